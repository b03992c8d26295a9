"""The SSH tunnel carries connections to a remote loopback port, through a real sshd."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from replay.remote.options import SSHOptions
from replay.remote.tunnel import TunnelEvent, open_tunnel
from tests.sshd import SSHServer, free_port


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A loopback echo server standing in for debugpy on the remote machine."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()


def exchange(port: int, payload: bytes) -> bytes:
    """Send everything, close our sending side, and read until the other side closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while data := conn.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_tunnel_carries_bytes_both_ways_and_reports_the_connection(
    sshd: SSHServer, ssh_options: SSHOptions, echo_port: int
) -> None:
    events: list[TunnelEvent] = []
    payload = os.urandom(3 * 1024 * 1024)

    with open_tunnel(sshd.target, echo_port, options=ssh_options, on_event=events.append) as tunnel:
        echoed = exchange(tunnel.local_port, payload)
        second = exchange(tunnel.local_port, b"again")

    assert echoed == payload and second == b"again"
    assert [e.kind for e in events] == ["open", "close", "open", "close"]
    assert events[1].sent == events[1].received == len(payload)
    assert str(events[0]).startswith("tunnel: 127.0.0.1:") and f"127.0.0.1:{echo_port}" in str(
        events[0]
    )


def test_a_remote_port_with_nothing_listening_is_reported_as_refused(
    sshd: SSHServer, ssh_options: SSHOptions
) -> None:
    events: list[TunnelEvent] = []
    closed_port = free_port()

    with open_tunnel(
        sshd.target, closed_port, options=ssh_options, on_event=events.append
    ) as tunnel:
        assert exchange(tunnel.local_port, b"") == b""

    assert [e.kind for e in events] == ["refused"]
    assert "nothing is listening" in events[0].detail


def test_the_tunnel_stops_and_says_so_when_its_ssh_connection_drops(
    sshd: SSHServer, ssh_options: SSHOptions, echo_port: int
) -> None:
    with open_tunnel(sshd.target, echo_port, options=ssh_options) as tunnel:
        tunnel.connection.transport.close()

        assert tunnel.wait(timeout=5)
        assert tunnel.lost


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("started", [None, _ignore_sigint], ids=["in a terminal", "as a background job"])
def test_cli_tunnel_prints_its_port_forwards_and_stops_on_interrupt(
    sshd: SSHServer, ssh_home: Path, echo_port: int, started: Callable[[], None] | None
) -> None:
    """Ctrl-C stops it, also where it was started with SIGINT ignored, as a script's
    background jobs are (which Python leaves as it found it)."""
    script = "import sys; from replay import cli\nsys.exit(cli.main(sys.argv[1:]))"
    tunnel = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            "tunnel",
            f"ssh://{sshd.target}",
            "--remote-port",
            str(echo_port),
            "-i",
            str(sshd.client_key),
            "--known-hosts",
            str(sshd.known_hosts),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
        preexec_fn=started,
    )
    try:
        address = tunnel.stdout.readline().strip()  # type: ignore[union-attr]
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1"
        assert exchange(int(port), b"ping") == b"ping"
    finally:
        tunnel.send_signal(signal.SIGINT)
        _, err = tunnel.communicate(timeout=10)

    assert tunnel.returncode == 0
    assert f"forwarding 127.0.0.1:{port} to 127.0.0.1:{echo_port}" in err
    assert "connected to" in err and "closed (4 bytes sent, 4 received)" in err
    assert "tunnel closed" in err
