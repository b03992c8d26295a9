"""Import a capture archive made by 'replay export' into the store.

The archive is read as untrusted: only a manifest and hash-named blobs are accepted,
every blob is verified, nothing is extracted outside the store.

example:
  replay import bug-1234.replay.tgz
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replay.cli.common import add_store_argument, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="archive written by replay export")
    add_store_argument(parser)


def run(args: argparse.Namespace) -> int:
    from replay.archive import import_capture
    from replay.errors import UsageError

    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    store = open_store(args)
    capture_id = import_capture(store, args.file)
    print(f"imported {capture_id} into {store.root}")
    return 0
