"""Small helpers shared by the command modules: the store option, output formats."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from replay.store import LocalStore, is_remote, resolve_store_spec


def add_capture_arguments(parser: argparse.ArgumentParser, json_output: bool = True) -> None:
    """The arguments of every command that reads one capture: ID, --store, --json."""
    parser.add_argument("id", metavar="ID", help="capture id or unique prefix")
    add_store_argument(parser)
    if json_output:
        add_json_argument(parser)


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="capture store (default: $REPLAY_STORE or ./.replay)")


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def open_store(args: argparse.Namespace) -> LocalStore:
    """The local store named by `--store`, `REPLAY_STORE` or the default."""
    from replay.errors import StoreError

    spec = resolve_store_spec(getattr(args, "store", None))
    if is_remote(spec):
        raise StoreError(f"{spec} is a remote store: run 'replay fetch {spec}' first")
    return LocalStore(spec)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def colour(text: str, code: str) -> str:
    """ANSI colour on a terminal, plain text elsewhere."""
    if sys.stdout.isatty():
        return f"\x1b[{code}m{text}\x1b[0m"
    return text
