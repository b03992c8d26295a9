"""Browse captures and debug replays in the terminal (the Textual app).

The browser lists the store's captures (type to filter, Enter to open). A capture opens
in tabs (summary, failure, inputs, environment, doctor, logs); r replays it under the
debugger and stops at the failing line. In the debugger: F5/c continue, F10/n step over,
F11/s step in, Shift+F11/u step out, F9/b breakpoint, p pause, r restart, Esc back,
Ctrl+Q quit. Plain letters work where function keys do not (SSH, tmux).

examples:
  replay tui                                    # the store in ./.replay or $REPLAY_STORE
  replay tui --store /data/captures
  replay tui --attach 127.0.0.1:5678            # any debugpy listener, e.g. replay run ID --attach
  replay tui --ssh me@gpu-box --remote-port 5678   # a remote one, through an SSH tunnel
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from replay.cli.common import add_store_argument, open_store
from replay.errors import UsageError
from replay.remote.options import SSHOptions

if TYPE_CHECKING:
    from tui.app import ReplayApp

NAME = "tui"
HELP = "browse captures and debug replays in the terminal"


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (or a bare PORT on 127.0.0.1), as `--attach` takes it."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--attach {text}: expected HOST:PORT, like 127.0.0.1:5678")
    return (host.strip("[]") or "127.0.0.1", int(port))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--attach", metavar="HOST:PORT", help="open the debugger on a listening debugpy")
    where.add_argument("--ssh", metavar="USER@HOST", help="attach to a remote debugpy through an SSH tunnel")
    parser.add_argument("--remote-port", type=int, metavar="N", help="with --ssh: the debug port on the remote host")
    SSHOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    # Start-up (Textual's import, the store's listing read into rows) allocates several
    # hundred thousand objects that live as long as the app, and the cyclic collector
    # scanned them again and again while they were made (110-165 ms, one full pass of
    # 40 ms, for 10,000 captures). So it waits until the app object is made, and they
    # are then frozen out of every later pass; the first screens are made after that.
    gc.disable()
    try:
        with open_app(args) as app:
            gc.freeze()
            gc.enable()
            return app.run() or 0
    finally:
        gc.enable()


@contextmanager
def open_app(args: argparse.Namespace) -> Iterator[ReplayApp]:
    """The app `replay tui` runs, with its SSH tunnel (if any) open until the app is
    done; tests drive it headless from here."""
    if args.ssh and not args.remote_port:
        raise UsageError("--ssh needs --remote-port N (the port debugpy listens on over there)")
    if args.remote_port and not args.ssh:
        raise UsageError("--remote-port goes with --ssh USER@HOST")
    address = parse_address(args.attach) if args.attach else None
    store = open_store(args)
    with ExitStack() as stack:
        if args.ssh:  # before Textual loads, so a refused host key or login fails at once
            from replay.remote.tunnel import open_tunnel

            options = SSHOptions.from_args(args)
            tunnel = stack.enter_context(open_tunnel(args.ssh, args.remote_port, options=options))
            address = ("127.0.0.1", tunnel.local_port)
        from tui.app import make_app

        yield make_app(store, address)
