"""Forward a port of a remote machine to this one, like `ssh -L`, until Ctrl-C.

The usual case: a failed step waits under `replay capture --wait-for-debugger`, with
debugpy listening on the remote machine's loopback. The tunnel brings that port here,
and a debugger (`replay tui --attach`, VS Code) attaches to the local address printed
on stdout. Every connection through the tunnel is reported on stderr. The local end
listens on 127.0.0.1 only; the host key is checked as for `replay fetch`.

examples:
  replay tunnel ssh://me@gpu-box --remote-port 5678                 any free local port
  replay tunnel ssh://me@gpu-box:2222 --remote-port 5678 --local-port 5678
  replay tunnel gpu --remote-port 5678 -i ~/.ssh/job_key           an ~/.ssh/config alias
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from replay.remote.options import SSHOptions

NAME = "tunnel"
HELP = "forward a remote debug port to this machine (like ssh -L)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        metavar="TARGET",
        help="ssh://[user@]host[:port], user@host[:port] or an ssh alias",
    )
    parser.add_argument(
        "--remote-port", type=int, required=True, metavar="N", help="port on the remote side"
    )
    parser.add_argument(
        "--local-port", type=int, default=0, metavar="M", help="local port (default: any free one)"
    )
    parser.add_argument(
        "--remote-host",
        default="127.0.0.1",
        metavar="HOST",
        help="host the SSH server connects to (default 127.0.0.1: the remote machine itself)",
    )
    SSHOptions.add_arguments(parser)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from replay.remote.errors import RemoteError
    from replay.remote.tunnel import open_tunnel

    def report(event: object) -> None:
        print(event, file=sys.stderr, flush=True)

    # Ctrl-C and SIGTERM stop the tunnel, also when it was started where SIGINT is
    # ignored (a background job of a script, which Python would otherwise leave as is).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    with open_tunnel(
        args.target,
        args.remote_port,
        remote_host=args.remote_host,
        local_port=args.local_port,
        options=SSHOptions.from_args(args),
        on_event=report,
    ) as tunnel:
        print(f"127.0.0.1:{tunnel.local_port}", flush=True)
        print(
            f"replay: forwarding 127.0.0.1:{tunnel.local_port} to {tunnel.destination_text} via "
            f"{tunnel.connection.label}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not tunnel.wait(1.0):
                pass
        except KeyboardInterrupt:
            print("replay: tunnel closed", file=sys.stderr)
            return 0
        if tunnel.lost:
            raise RemoteError(f"the SSH connection to {tunnel.connection.label} was lost")
    return 0
