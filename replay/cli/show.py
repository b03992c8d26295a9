"""Show one capture: what failed, where, with which inputs and environment.

ID may be any unique prefix of a capture id.

examples:
  replay show 3f9a
  replay show 3f9a --json > manifest.json
"""

from __future__ import annotations

import argparse

from replay.cli.common import add_capture_arguments, colour, open_store, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_capture_arguments(parser)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    manifest = store.load(store.resolve(args.id))
    if args.json:
        print_json(manifest.model_dump(mode="json"))
        return 0
    from replay.render import render_capture

    print(render_capture(manifest, colour))
    return 0
