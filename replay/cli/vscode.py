"""Write or merge a VS Code attach configuration for a capture's replay.

The configuration attaches to `replay run ID --attach` and maps the replay's work
folder to your source, so breakpoints you set in your files bind in the replay.
Your other configurations and comments in launch.json are kept as they are.

examples:
  replay vscode 3f9a                           # .vscode/launch.json in this folder
  replay vscode 3f9a --port 5679 --local-root ~/src/pipeline --output ~/src/pipeline/.vscode/launch.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replay.cli.common import add_capture_arguments, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_capture_arguments(parser, json_output=False)
    parser.add_argument("--port", type=int, default=5678, help="debugger port (default 5678)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--output", type=Path, default=Path(".vscode/launch.json"), metavar="PATH",
                        help="launch.json to write or merge (default .vscode/launch.json)")
    parser.add_argument("--local-root", default="${workspaceFolder}", metavar="DIR",
                        help="your copy of the step's source (default ${workspaceFolder})")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="the replay's work folder, if you pass --workdir to replay run")


def run(args: argparse.Namespace) -> int:
    from replay.engine.runner import default_workdir
    from replay.engine.workspace import source_dir
    from replay.vscode import attach_configuration, write_configuration

    store = open_store(args)
    capture_id = store.resolve(args.id)
    manifest = store.load_document(capture_id)
    work = (args.workdir or default_workdir(store, capture_id)).resolve()
    name = f"Replay: attach {capture_id[:8]} ({manifest['step']['name']})"
    local_root = args.local_root if args.local_root.startswith("${") else str(Path(args.local_root).resolve())
    config = attach_configuration(name, args.host, args.port, str(source_dir(manifest, work)), local_root)
    write_configuration(args.output, config)
    print(f'wrote "{name}" to {args.output}')
    print(f"next: replay run {capture_id[:8]} --attach --port {args.port}, then start \"{name}\" in VS Code")
    return 0
