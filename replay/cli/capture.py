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

from replay.capture.options import CaptureOptions, parse_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

# One table for both parsers below: (option, kind, convert, default, metavar, help),
# kind being "value", "flag" or "append".
OPTIONS: tuple[tuple[str, str, Callable[[str], Any] | None, Any, str | None, str], ...] = (
    ("--store", "value", None, None, None, "where captures go (default: $REPLAY_STORE or ./.replay)"),
    ("--always", "flag", None, False, None, "capture successful runs too"),
    ("--input", "append", None, None, "PATH",
     "declare an input file or folder (repeatable); argv paths and opened files are found anyway"),
    ("--name", "value", None, None, None, "step name (default: the script or module name)"),
    ("--max-input-bytes", "value", parse_size, CaptureOptions.max_input_bytes, "SIZE",
     "copy inputs up to this total; the rest are kept by reference (default 2GB)"),
    ("--max-file-bytes", "value", parse_size, CaptureOptions.max_file_bytes, "SIZE",
     "a single input larger than this is kept by reference (default 1GB)"),
    ("--timeout", "value", float, CaptureOptions.timeout, "SECS",
     "give up capturing after this long; the step's outcome stands (default 300)"),
    ("--wait-for-debugger", "value", float, CaptureOptions.wait_for_debugger, "SECS",
     "after a failure, listen for a debugger on loopback this long (post-mortem)"),
    ("--debug-port", "value", int, CaptureOptions.debug_port, "N",
     f"port for --wait-for-debugger (default {CaptureOptions.debug_port})"),
)


def _size(text: str) -> int:
    """`parse_size` for argparse, keeping its message (argparse would say only
    'invalid value')."""
    import argparse

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    import argparse

    for option, kind, convert, default, metavar, help_text in OPTIONS:
        if kind == "flag":
            parser.add_argument(option, action="store_true", help=help_text)
        elif kind == "append":
            parser.add_argument(option, action="append", default=[], metavar=metavar, help=help_text)
        else:
            parser.add_argument(option, type=_size if convert is parse_size else convert, default=default,
                                metavar=metavar, help=help_text)
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...",
                        help="the step's command line")


def _dest(option: str) -> str:
    """The attribute argparse stores `--max-input-bytes` under: `max_input_bytes`."""
    return option[2:].replace("-", "_")


def parse_quickly(argv: list[str]) -> Any | None:
    """Parse the common forms (`--opt value`, `--opt=value`, flags, then the command)
    without loading argparse, which with its regular expressions and translations
    would cost every captured step ~20 ms; anything else (help, abbreviations,
    errors) returns None and goes to argparse, which explains it."""
    from types import SimpleNamespace

    table = {option: (kind, convert) for option, kind, convert, _, _, _ in OPTIONS}
    values: dict[str, Any] = {_dest(option): [] if kind == "append" else default
                              for option, kind, _, default, _, _ in OPTIONS}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        option, has_value, value = argv[i].partition("=")
        if option not in table:
            return None
        kind, convert = table[option]
        key = _dest(option)
        if kind == "flag":
            if has_value:
                return None
            values[key] = True
            i += 1
            continue
        if not has_value:
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None
            value = argv[i + 1]
            i += 1
        try:
            parsed = convert(value) if convert else value
        except ValueError:
            return None
        if kind == "append":
            values[key].append(parsed)
        else:
            values[key] = parsed
        i += 1
    values["cmd"] = argv[i:]
    return SimpleNamespace(**values)


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
