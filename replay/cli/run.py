"""Rebuild a captured step locally and run it; with --attach, land in a debugger
on the line that failed.

The step runs on the captured source (or your working copy with --source) against
the captured inputs, arguments and environment, with upstream objects (the cloud
platform's run, models, datasets, your @replay.boundary calls) served from the
capture. The verdict compares the outcome with the captured failure:

  reproduced   same exception type at the same failure site
  different    another failure (both are shown)
  passed       the step succeeded: your fix works on the failing inputs

The exit status is the replayed step's own.

examples:
  replay run 3f9a --attach                 # then: replay tui --attach 127.0.0.1:5678
  replay run 3f9a --source ~/src/pipeline  # fix-verify loop on your working copy
  replay run 3f9a --env DB_PASSWORD=... --input-map /mnt/data/big.parquet=./big.parquet
  replay run 3f9a --mini-batch 12          # batch step: init() then run(mini-batch 12 of 3f9a's job)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from replay.cli.common import add_capture_arguments, add_json_argument, colour, open_store, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_capture_arguments(parser, json_output=False)
    parser.add_argument("--attach", action="store_true",
                        help="wait for a debugger and stop at the failure site (post-mortem)")
    parser.add_argument("--host", default="127.0.0.1", help="debugger listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5678, help="debugger port; 0 picks a free one (default 5678)")
    parser.add_argument("--from-start", action="store_true",
                        help="with --attach: listen before the step starts, to step through it (slower)")
    parser.add_argument("--source", type=Path, metavar="DIR",
                        help="run your working copy instead of the captured source")
    parser.add_argument("--workdir", type=Path, metavar="DIR", help="work folder (default: under the store)")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="set a variable (redacted secrets)")
    parser.add_argument("--env-file", type=Path, metavar="FILE", help="KEY=VALUE lines to set")
    parser.add_argument("--input-map", action="append", default=[], metavar="ORIG=LOCAL",
                        help="local copy of an input that was too large to capture")
    parser.add_argument("--ready-file", type=Path, metavar="FILE",
                        help="with --attach: write {host, port, pid} here once listening (for tools)")
    parser.add_argument("--trust", action="store_true", help="allow loading pickled values from the capture")
    parser.add_argument("--mini-batch", type=int, metavar="K",
                        help="ID is a captured mini-batch of a batch job: replay that job's mini-batch K instead")
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from replay.engine.environment import parse_assignments, read_env_file
    from replay.engine.runner import RunOptions, replay_step
    from replay.errors import UsageError

    if args.source is not None and not args.source.is_dir():
        raise UsageError(f"--source {args.source}: not a folder")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"replay: warning: the debugger on {args.host} lets anyone who can reach it run code",
              file=sys.stderr)
    env = read_env_file(args.env_file) if args.env_file else {}
    env.update(parse_assignments(args.env, "--env"))
    store = open_store(args)
    capture_id = store.resolve(args.id)
    if args.mini_batch is not None:
        from replay.parallel.rerun import minibatch_of

        capture_id = minibatch_of(store, capture_id, args.mini_batch)
    options = RunOptions(
        attach=args.attach, host=args.host, port=args.port, from_start=args.from_start,
        source=args.source, workdir=args.workdir, env=env,
        input_map=parse_assignments(args.input_map, "--input-map"), trust=args.trust,
        quiet_stdout=args.json, ready_file=args.ready_file,
    )
    verdict = replay_step(store, capture_id, options)
    if args.json:
        print_json(verdict.to_json())
    else:
        shade = {"reproduced": "33", "different": "35", "passed": "32"}[verdict.verdict]
        print(colour(f"verdict: {verdict.verdict}", shade + ";1"), file=sys.stderr)
        if verdict.captured:
            print(f"  captured: {verdict.captured.describe()}", file=sys.stderr)
        if verdict.replayed:
            print(f"  replayed: {verdict.replayed.describe()}", file=sys.stderr)
    return verdict.exit_code
