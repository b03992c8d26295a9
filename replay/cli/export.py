"""Write one capture as a self-contained archive (manifest and every blob it names).

examples:
  replay export 3f9a -o bug-1234.replay.tgz
  replay import bug-1234.replay.tgz          # on another machine
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replay.cli.common import add_capture_arguments, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_capture_arguments(parser, json_output=False)
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                        help="archive to write (.tgz)")


def run(args: argparse.Namespace) -> int:
    from replay.archive import export_capture

    store = open_store(args)
    capture_id = store.resolve(args.id)
    size = export_capture(store, capture_id, args.output)
    print(f"exported {capture_id} to {args.output} ({size} bytes)")
    return 0
