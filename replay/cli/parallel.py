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
--run-max-try tries is saved under logs/sys/failed_mini-batches/ for capture.
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
from typing import Any

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
    p.add_argument("--partition-format", metavar="FMT", help="path format of file partitions, e.g. '{user}/{genre}/{name}.txt'")
    p.add_argument("--model", action="append", default=[], metavar="NAME[:VERSION]=PATH",
                   help="what Model.get_model_path(NAME) returns (repeatable)")
    p.add_argument("--name", metavar="NAME", help="step name (default from the script's name)")
    p.add_argument("--store", metavar="S", help="capture store for failing mini-batches")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--address", metavar="ADDR", help="Dask scheduler address for --executor dask (tcp://HOST:PORT)")
    p.add_argument("--progress", action="store_true", help="draw a progress bar even when stderr is not a terminal")
    p.add_argument("--json", action="store_true", help="print the job summary as JSON on stdout")
    p.add_argument("script_args", nargs=argparse.REMAINDER, metavar="-- ARGS",
                   help="arguments for the entry script (read with parse_known_args)")


def run(args: argparse.Namespace) -> int:
    return int(args._parallel(args))


def capture_callback(store: str | None) -> Callable[[dict[str, Any]], None] | None:
    """The hook where each finally-failed mini-batch record is published to the store.

    Left to the capture store's owner: return a function that turns the record (see
    `replay.parallel.runner`) into a capture. None means records stay on disk only.
    """
    return None


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
        on_failed_minibatch=capture_callback(args.store),
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
    return 0 if result.ok else 1
