"""Run a pipeline step under the capture agent.

The step runs exactly as it would alone: same stdout and stderr, same exit status.
When it fails, the agent snapshots its inputs, arguments, environment (secrets
redacted), installed packages, source and failure into the store and prints one line:

    replay: captured 3f9a2c81d0e4 in .replay (replay run 3f9a2c81d0e4 --attach)

examples:
  replay capture -- python score.py --input data/scores.csv --output out/
  replay capture --store /mnt/outputs/.replay --input model/ -- python -m pipeline.train
  replay capture --always -- python step.py          # capture successful runs too
"""

from __future__ import annotations

import argparse

from replay.capture.options import CaptureOptions, parse_size


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="where captures go (default: $REPLAY_STORE or ./.replay)")
    parser.add_argument("--always", action="store_true", help="capture successful runs too")
    parser.add_argument(
        "--input", action="append", default=[], metavar="PATH",
        help="declare an input file or folder (repeatable); argv paths and opened files are found anyway",
    )
    parser.add_argument("--name", help="step name (default: the script or module name)")
    parser.add_argument(
        "--max-input-bytes", type=_size, default=CaptureOptions.max_input_bytes, metavar="SIZE",
        help="copy inputs up to this total; the rest are kept by reference (default 2GB)",
    )
    parser.add_argument(
        "--max-file-bytes", type=_size, default=CaptureOptions.max_file_bytes, metavar="SIZE",
        help="a single input larger than this is kept by reference (default 1GB)",
    )
    parser.add_argument(
        "--timeout", type=float, default=CaptureOptions.timeout, metavar="SECS",
        help="give up capturing after this long; the step's outcome stands (default 300)",
    )
    parser.add_argument(
        "--wait-for-debugger", type=float, default=0.0, metavar="SECS",
        help="after a failure, listen for a debugger on loopback this long (post-mortem)",
    )
    parser.add_argument("--debug-port", type=int, default=5678, metavar="N",
                        help="port for --wait-for-debugger (default 5678)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...",
                        help="the step's command line")


def run(args: argparse.Namespace) -> int:
    from replay.capture import capture_command
    from replay.errors import UsageError

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("nothing to run: give the step's command after '--', e.g. "
                         "replay capture -- python score.py")
    options = CaptureOptions(
        store=args.store, always=args.always, inputs=args.input, name=args.name,
        max_input_bytes=args.max_input_bytes, max_file_bytes=args.max_file_bytes,
        timeout=args.timeout, wait_for_debugger=args.wait_for_debugger, debug_port=args.debug_port,
    )
    return capture_command(cmd, options)
