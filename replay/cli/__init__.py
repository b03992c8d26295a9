"""The `replay` command line: one module per subcommand, registered in `COMMANDS`.

Each command module defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so
`replay capture` pays for nothing but itself. stdout carries results (`--json`),
stderr carries diagnostics; a `ReplayError` becomes one line and its exit code.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # `replay capture` must start fast: typing and argparse load lazily
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from types import ModuleType

# (command name, module under replay.cli, one-line help). Order is the --help order.
COMMANDS: list[tuple[str, str, str]] = [
    ("capture", "capture", "run a step under the capture agent; on failure, snapshot it"),
    ("ls", "ls", "list captures, newest first"),
    ("show", "show", "show one capture"),
    ("doctor", "doctor", "name known failure patterns in a capture and their fixes"),
    ("verify", "verify", "check every hash of a capture"),
    ("export", "export", "write one capture as a self-contained archive"),
    ("import", "import_", "import a capture archive into the store"),
    ("env", "env", "environment drift against a capture (diff), or a venv that matches it (create)"),
    ("run", "run", "rebuild a captured step locally, run it, give a verdict (--attach to debug)"),
    ("vscode", "vscode", "write a VS Code attach configuration for a capture"),
    ("tui", "tui", "browse captures and debug replays in the terminal"),
    ("fetch", "fetch", "pull captures from sftp://user@host/path or a store folder"),
    ("tunnel", "tunnel", "forward a remote debug port to this machine (like ssh -L)"),
    ("parallel", "parallel", "run a batch-inference step locally: init() once per worker, run() per mini-batch"),
]



def _top_parser() -> argparse.ArgumentParser:
    """`replay` itself: lists the commands (their modules stay unloaded)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="replay",
        description=(
            "Capture a failing pipeline step where it runs, then rebuild it locally "
            "and land in a debugger on the line that failed."
        ),
        epilog="Run 'replay COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, _, help_text in COMMANDS:
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_parser(name: str, mod: ModuleType, help_text: str) -> argparse.ArgumentParser:
    """`replay NAME`: only this command's options are built."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"replay {name}",
        description=(mod.__doc__ or help_text).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mod.add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run one command, return its exit status.

    A command module may offer `parse_quickly(argv)` for its common forms; argparse
    then loads only for help and mistakes."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    commands = {name: (module, help_text) for name, module, help_text in COMMANDS}
    if not args_list or args_list[0] not in commands:
        parser = _top_parser()
        parser.parse_args(args_list)  # exits with help or an error naming the commands
        parser.print_help()
        return 2 if args_list else 0
    name, rest = args_list[0], args_list[1:]
    module, help_text = commands[name]
    __import__(f"replay.cli.{module}")  # not importlib: it loads `warnings` too, ~1 ms of a job's start
    mod = sys.modules[f"replay.cli.{module}"]
    quick = getattr(mod, "parse_quickly", None)
    args = quick(rest) if quick is not None else None
    if args is None:
        args = _command_parser(name, mod, help_text).parse_args(rest)
    return _run(mod.run, args)


def _run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command; a `ReplayError` becomes one line on stderr and its exit code."""
    from replay.errors import ReplayError

    try:
        return int(command(args))
    except ReplayError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("replay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
