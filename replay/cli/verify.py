"""Check a capture: its manifest against the schema and every blob against its hash.

Exit status 0 when whole, 2 when anything is wrong (each problem printed).

example:
  replay verify 3f9a
"""

from __future__ import annotations

import argparse

from replay.cli.common import add_capture_arguments, open_store, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_capture_arguments(parser)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    capture_id = store.resolve(args.id)
    problems = store.verify(capture_id)
    if args.json:
        print_json({"id": capture_id, "ok": not problems, "problems": problems})
    elif problems:
        for p in problems:
            print(f"{capture_id}: {p}")
    else:
        print(f"{capture_id}: ok")
    return 2 if problems else 0
