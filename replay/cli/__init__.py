"""The `replay` command line: one module per subcommand, registered in `COMMANDS`.

Each command module defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so
`replay capture` pays for nothing but itself. stdout carries results (`--json`),
stderr carries diagnostics; a `ReplayError` becomes one line and its exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (command name, module under replay.cli, one-line help). Order is the --help order.
COMMANDS: list[tuple[str, str, str]] = [
    ("capture", "capture", "run a step under the capture agent; on failure, snapshot it"),
    ("ls", "ls", "list captures, newest first"),
    ("show", "show", "show one capture"),
    ("doctor", "doctor", "name known failure patterns in a capture and their fixes"),
    ("verify", "verify", "check every hash of a capture"),
    ("export", "export", "write one capture as a self-contained archive"),
    ("import", "import_", "import a capture archive into the store"),
    ("env", "env", "environment drift against a capture (diff), or a venv that matches it (create)"),
    ("run", "run", "rebuild a captured step locally, run it, give a verdict (--attach to debug)"),
    ("vscode", "vscode", "write a VS Code attach configuration for a capture"),
    ("tui", "tui", "browse captures and debug replays in the terminal"),
    ("fetch", "fetch", "pull captures from sftp://user@host/path or a store folder"),
    ("tunnel", "tunnel", "forward a remote debug port to this machine (like ssh -L)"),
    ("parallel", "parallel", "run a batch-inference step locally: init() once per worker, run() per mini-batch"),
]



def _build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replay",
        description=(
            "Capture a failing pipeline step where it runs, then rebuild it locally "
            "and land in a debugger on the line that failed."
        ),
        epilog="Run 'replay COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        if selected is not None and name != selected:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        mod = importlib.import_module(f"replay.cli.{module}")
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=(mod.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(cmd)
        cmd.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run one command, return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    names = {name for name, _, _ in COMMANDS}
    selected = next((a for a in args_list if not a.startswith("-")), None)
    parser = _build_parser(selected if selected in names else None)
    args = parser.parse_args(args_list)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2 if args_list else 0
    from replay.errors import ReplayError

    try:
        return int(args._run(args))
    except ReplayError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("replay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
