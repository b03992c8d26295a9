"""Name the known failure patterns in a capture, with their evidence and fixes.

Each finding has a stable code (e.g. output-dir-missing, dependency-drift,
batch-run-timeout, out-of-memory), a severity, a one-line message, the evidence quoted
from the capture (lines, paths, versions), a concrete fix and how sure the rule is.
A capture that matches no known pattern says so (and exits 0). ID may be any unique
prefix of a capture id.

examples:
  replay doctor 3f9a
  replay doctor 3f9a --json | jq -r '.[].code'
  replay doctor 3f9a --store /mnt/outputs/.replay
"""

from __future__ import annotations

import argparse

from replay.cli.common import add_json_argument, add_store_argument, colour, open_store, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="capture id or unique prefix")
    add_store_argument(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from replay.doctor import diagnose

    store = open_store(args)
    manifest = store.load(store.resolve(args.id))
    findings = diagnose(manifest, store)
    if args.json:
        print_json([f.to_dict() for f in findings])
        return 0
    from replay.doctor.report import render_findings

    print(render_findings(manifest, findings, colour))
    return 0
