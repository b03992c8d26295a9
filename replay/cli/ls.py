"""List captures in the store, newest first.

examples:
  replay ls
  replay ls --json | jq '.[0].id'
"""

from __future__ import annotations

import argparse

from replay.cli.common import add_json_argument, add_store_argument, colour, open_store, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    add_json_argument(parser)
    parser.add_argument("--step", help="only captures of this step name")


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    rows = store.list()
    if args.step:
        rows = [r for r in rows if r["step"] == args.step]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no captures in {store.root}")
        return 0
    print(f"{'ID':12}  {'CREATED':19}  {'STEP':20}  {'STATUS':6}  ERROR")
    for r in rows:
        status = colour(f"{r['status']:6}", "31" if r["status"] == "failed" else "32")
        created = r["created"][:19].replace("T", " ")
        print(f"{r['id']:12}  {created:19}  {r['step'][:20]:20}  {status}  {r['error'][:80]}")
    return 0
