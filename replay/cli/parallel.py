"""Run a batch-inference (parallel run) step locally, with the platform's semantics.

  replay parallel run --entry-script score.py --source-directory src \\
      --input data/images --mini-batch-size 10 --error-threshold 5 \\
      --output-action append_row --process-count-per-node 2 \\
      --model classifier=models/clf.pkl -- --model_name classifier

Workers (node-count x process-count-per-node processes) call init() once, then
run(mini_batch) per mini-batch: a list of paths for file inputs, a DataFrame for CSV,
Parquet or JSON Lines inputs (write files:PATH to pass tables as paths). Everything
after `--` reaches the script's sys.argv. Results land in OUTPUT/parallel_run_step.txt
(append_row), with logs/job_error.txt (every failure and its traceback) and
logs/sys/job_report/processed_mini-batches.csv. Each mini-batch that still fails after
--run-max-try tries is saved under logs/sys/failed_mini-batches/ and captured in the
store (--store; --no-capture to skip): 'replay run ID --attach' replays it as init()
then run(that mini-batch) under the debugger, and 'replay parallel rerun --failed
--source DIR' re-runs all of a job's captured mini-batches on your fixed code.
The CLI defaults --error-threshold to -1 (never abort) and --output-action to
append_row; the platform requires both. Exit status: 0 when the job completes (even
with tolerated failures), 1 when it aborts or init() fails, 2 for a bad option.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from replay.cli.common import add_json_argument, add_store_argument, colour, open_store, print_json
from replay.errors import UsageError

RERUN_DOC = """Re-run every captured failing mini-batch of one job run and tabulate which
pass now: the fix-verify loop of a batch step.

Each mini-batch replays as init() then run(mini_batch) on its captured content, with
the captured models and side inputs, and gets a verdict (reproduced, different, passed;
error when it cannot be replayed). The step's output of each replay goes to
STORE/work/ID/rerun.log. Exit status 0 when every mini-batch passes, 1 otherwise.

examples:
  replay parallel rerun --failed                         # the latest job, captured code
  replay parallel rerun --failed --source ~/src/scoring  # your working copy
  replay parallel rerun --failed --job batch-score --json
"""

NAME = "parallel"
HELP = "run a batch-inference step locally: init() once per worker, run() per mini-batch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="parallel_command", metavar="SUBCOMMAND")
    sub.required = True
    run_parser = sub.add_parser(
        "run",
        help="run the step over its inputs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_arguments(run_parser)
    run_parser.set_defaults(_parallel=_run)
    rerun_parser = sub.add_parser(
        "rerun",
        help="re-run a job's captured failing mini-batches (on fixed code) and tabulate",
        description=RERUN_DOC,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rerun_parser.add_argument("--failed", action="store_true", required=True,
                              help="re-run the captured failing mini-batches (the only mode)")
    add_store_argument(rerun_parser)
    rerun_parser.add_argument("--source", type=Path, metavar="DIR",
                              help="run your working copy of the step's source directory")
    rerun_parser.add_argument("--job", metavar="NAME",
                              help="step name (its latest run) or job id prefix (default: the latest job)")
    add_json_argument(rerun_parser)
    rerun_parser.set_defaults(_parallel=_rerun)


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entry-script", required=True, metavar="S",
                   help="the script defining init() and run() (relative to --source-directory)")
    p.add_argument("--input", required=True, nargs="+", action="extend", metavar="PATH",
                   help="input files or folders, all tabular or all files (files:PATH / tabular:PATH forces the type)")
    p.add_argument("--side-input", action="append", default=[], metavar="PATH",
                   help="reference data every worker sees, not split (repeatable)")
    p.add_argument("--source-directory", metavar="D", help="folder of the step's code (put on sys.path)")
    p.add_argument("--mini-batch-size", metavar="X",
                   help="files per mini-batch (default 10), or bytes for tables: 1024, 1024KB, 10MB, 1GB (default 1MB)")
    p.add_argument("--error-threshold", type=int, default=-1, metavar="N",
                   help="failed records/files tolerated over the job; -1 never aborts (default -1)")
    p.add_argument("--output-action", choices=("append_row", "summary_only"), default="append_row")
    p.add_argument("--append-row-file-name", default="parallel_run_step.txt", metavar="F")
    p.add_argument("--output", metavar="DIR", help="output folder (default ./parallel_run_output/NAME)")
    p.add_argument("--node-count", type=int, default=1, metavar="N")
    p.add_argument("--process-count-per-node", type=int, default=1, metavar="N")
    p.add_argument("--run-invocation-timeout", type=float, default=60, metavar="S",
                   help="seconds one run() call may take (default 60)")
    p.add_argument("--run-max-try", type=int, default=3, metavar="N", help="tries per mini-batch (default 3)")
    p.add_argument("--logging-level", default="INFO", metavar="L", help="WARNING, INFO (default) or DEBUG")
    p.add_argument("--partition-keys", nargs="+", default=[], metavar="K",
                   help="partition by these path fields (files) or columns (tables)")
    p.add_argument("--partition-format", metavar="FMT",
                   help="path format of file partitions, e.g. '{user}/{genre}/{name}.txt'")
    p.add_argument("--model", action="append", default=[], metavar="NAME[:VERSION]=PATH",
                   help="what Model.get_model_path(NAME) returns (repeatable)")
    p.add_argument("--name", metavar="NAME", help="step name (default from the script's name)")
    p.add_argument("--store", metavar="S",
                   help="capture store for failing mini-batches (default: $REPLAY_STORE or ./.replay)")
    p.add_argument("--no-capture", action="store_true", help="do not capture failing mini-batches")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--address", metavar="ADDR", help="Dask scheduler address for --executor dask (tcp://HOST:PORT)")
    p.add_argument("--progress", action="store_true", help="draw a progress bar even when stderr is not a terminal")
    p.add_argument("--json", action="store_true", help="print the job summary as JSON on stdout")
    p.add_argument("script_args", nargs=argparse.REMAINDER, metavar="-- ARGS",
                   help="arguments for the entry script (read with parse_known_args)")


def run(args: argparse.Namespace) -> int:
    return int(args._parallel(args))


def capture_callback(store: str | None) -> Callable[[dict[str, Any]], str]:
    """Publish each finally-failed mini-batch as a capture in `store` (`--store`,
    `REPLAY_STORE` or the default; a remote store gets a copy of the local capture) and
    say so on stderr, one line each."""
    from replay.capture.writer import open_store, publish_remote
    from replay.parallel.capture import MiniBatchCapturer

    local, remote = open_store(store)
    capturer = MiniBatchCapturer(local)

    def publish(record: dict[str, Any]) -> str:
        capture_id = capturer(record)
        where = publish_remote(local, capture_id, remote) if remote else str(local.root)
        last = record["tries"][-1]
        print(f"replay: captured {capture_id} in {where}: mini-batch {record['index']} ({last['type']}: "
              f"{last['message'][:120]}) (replay run {capture_id} --attach)", file=sys.stderr)
        return capture_id

    return publish


def _run(args: argparse.Namespace) -> int:
    from replay.parallel.config import ParallelRunConfig, parse_model_spec
    from replay.parallel.runner import run_parallel

    script_args = list(args.script_args)
    if script_args and script_args[0] == "--":
        script_args = script_args[1:]
    models = dict(parse_model_spec(spec) for spec in args.model)
    config = ParallelRunConfig(
        entry_script=args.entry_script,
        inputs=args.input,
        error_threshold=args.error_threshold,
        output_action=args.output_action,
        mini_batch_size=args.mini_batch_size,
        side_inputs=args.side_input,
        source_directory=args.source_directory,
        append_row_file_name=args.append_row_file_name,
        node_count=args.node_count,
        process_count_per_node=args.process_count_per_node,
        run_invocation_timeout=args.run_invocation_timeout,
        run_max_try=args.run_max_try,
        logging_level=args.logging_level,
        partition_keys=args.partition_keys,
        partition_format=args.partition_format,
        models=models,
        arguments=script_args,
        name=args.name,
        output=args.output,
        executor=args.executor,
        address=args.address,
    )
    slots = args.node_count * args.process_count_per_node
    cpus = os.cpu_count() or 1
    if args.executor == "local" and slots > 4 * cpus:
        print(f"replay: note: {slots} worker processes (node-count x process-count-per-node) "
              f"on {cpus} CPU(s); each loads the model in init()", file=sys.stderr)
    result = run_parallel(
        config,
        on_failed_minibatch=None if args.no_capture else capture_callback(args.store),
        progress=True if args.progress else None,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    print(f"replay: {result.name}: {result.status}: {result.message}", file=sys.stderr)
    if result.output_file is not None:
        print(f"replay: output {result.output_file}", file=sys.stderr)
    if result.init_error is not None:
        print(f"replay: {result.init_error.get('type')}: {result.init_error.get('message')} "
              f"(see {result.error_summary})", file=sys.stderr)
    elif result.failed_records:
        first = result.failed_records[0]
        last = first["tries"][-1]
        print(f"replay: first failure: mini-batch {first['index']}: {last['type']}: "
              f"{last['message']} (all failures: {result.error_summary})", file=sys.stderr)
        captured = sum(1 for r in result.failed_records if r.get("capture_id"))
        if captured:
            print(f"replay: {captured} failing mini-batch(es) captured; after a fix: replay parallel "
                  f"rerun --failed --job {result.name} --source DIR", file=sys.stderr)
    return 0 if result.ok else 1


def _rerun(args: argparse.Namespace) -> int:
    from replay.parallel.rerun import RerunRow, job_captures, rerun, select_job

    if args.source is not None and not args.source.is_dir():
        raise UsageError(f"--source {args.source}: not a folder")
    store = open_store(args)
    captures = select_job(job_captures(store), args.job)

    def show(row: RerunRow) -> None:
        if not args.json:
            shade = {"passed": "32", "reproduced": "33", "different": "35"}.get(row.verdict, "31")
            print(f"{row.index:>10}  {row.capture_id:12}  {colour(f'{row.verdict:10}', shade)}  "
                  f"{row.captured[:60]:60}  {row.replayed[:70]}", flush=True)

    if not args.json:
        first = captures[0]
        print(f"job {first.job_name} ({first.job_id}): {len(captures)} captured failing mini-batch(es)"
              f"{f', source {args.source}' if args.source else ''}")
        print(f"{'MINI-BATCH':>10}  {'CAPTURE':12}  {'VERDICT':10}  {'CAPTURED FAILURE':60}  NOW")
    rows = rerun(store, captures, args.source, show)
    passed = sum(r.verdict == "passed" for r in rows)
    if args.json:
        print_json({"job_id": captures[0].job_id, "job_name": captures[0].job_name,
                    "source": str(args.source) if args.source else None, "total": len(rows),
                    "passed": passed, "minibatches": [r.to_json() for r in rows]})
    else:
        print(f"{passed} of {len(rows)} pass now" + ("" if passed == len(rows) else
              f"; step output of each replay: {rows[0].log.parent.parent}/ID/{rows[0].log.name}"))
    return 0 if passed == len(rows) else 1
