"""A local port forward over SSH, like `ssh -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE host`.

A failed step waiting with `--wait-for-debugger` listens on the remote machine's
loopback only (a debugger port must never face a network), so the way in is a tunnel:
a listener on this machine's loopback whose every accepted connection becomes a
`direct-tcpip` channel to the remote port. Each connection gets its own thread
pumping bytes both ways (with half-close, so a client that shuts down its sending
side still receives the rest), and each one is reported as it opens and closes.

From code (the TUI attaches this way)::

    with open_tunnel("me@gpu-box", remote_port=5678) as tunnel:
        attach("127.0.0.1", tunnel.local_port)
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import paramiko

from replay.errors import UsageError
from replay.remote.options import SSHOptions
from replay.remote.ssh import SSHConnection, connect
from replay.remote.url import Target

POLL = 0.2
"""How often idle threads look at the stop flag and the SSH connection."""
BUFFER = 256 * 1024
CHANNEL_TIMEOUT = 10.0


@dataclass(frozen=True)
class TunnelEvent:
    """One connection through the tunnel opening, closing, or being refused remotely."""

    kind: Literal["open", "close", "refused"]
    peer: str
    """The local client's address, `127.0.0.1:53412`."""
    destination: str
    """Where the remote side connects to, `127.0.0.1:5678`."""
    sent: int = 0
    """Bytes from the local client to the remote port."""
    received: int = 0
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == "open":
            return f"tunnel: {self.peer} connected to {self.destination}"
        if self.kind == "close":
            return f"tunnel: {self.peer} closed ({self.sent} bytes sent, {self.received} received)"
        return f"tunnel: {self.peer} refused: {self.detail}"


EventCallback = Callable[[TunnelEvent], None]


def _refusal(exc: Exception, destination: str) -> str:
    if isinstance(exc, paramiko.ChannelException) and exc.code == 1:
        return "the SSH server does not allow port forwarding (AllowTcpForwarding)"
    if isinstance(exc, paramiko.ChannelException) and exc.code == 2:
        return f"nothing is listening on {destination} on the remote machine"
    return f"the SSH connection could not open a channel ({exc})"


class Tunnel:
    """Forwards connections to 127.0.0.1:`local_port` here to `remote_host:remote_port`
    as seen from the SSH server, until closed or until the SSH connection drops."""

    def __init__(
        self,
        connection: SSHConnection,
        remote_port: int,
        *,
        remote_host: str = "127.0.0.1",
        local_port: int = 0,
        on_event: EventCallback | None = None,
    ) -> None:
        self.connection = connection
        self.destination = (remote_host, remote_port)
        self.on_event = on_event
        try:
            self.server = socket.create_server(("127.0.0.1", local_port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on 127.0.0.1:{local_port}: {exc.strerror or exc}"
            ) from exc
        self.server.settimeout(POLL)
        self.local_port: int = self.server.getsockname()[1]
        self.lost = False
        """True when the tunnel stopped because the SSH connection dropped."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(
            target=self._accept, name=f"tunnel-{self.local_port}", daemon=True
        )
        self._acceptor.start()

    @property
    def destination_text(self) -> str:
        return f"{self.destination[0]}:{self.destination[1]}"

    def _emit(self, event: TunnelEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, address = self.server.accept()
            except TimeoutError:
                if not self.connection.is_active():
                    self.lost = True
                    self._stop.set()
                continue
            except OSError:
                break
            worker = threading.Thread(target=self._serve, args=(client, address), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [worker]
            worker.start()

    def _serve(self, client: socket.socket, address: tuple[str, int]) -> None:
        peer = f"{address[0]}:{address[1]}"
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            channel = self.connection.transport.open_channel(
                "direct-tcpip", self.destination, address, timeout=CHANNEL_TIMEOUT
            )
        except (paramiko.SSHException, EOFError, OSError) as exc:
            client.close()
            self._emit(
                TunnelEvent(
                    "refused",
                    peer,
                    self.destination_text,
                    detail=_refusal(exc, self.destination_text),
                )
            )
            return
        self._emit(TunnelEvent("open", peer, self.destination_text))
        sent, received = self._pump(client, channel)
        self._emit(TunnelEvent("close", peer, self.destination_text, sent, received))

    def _pump(self, client: socket.socket, channel: paramiko.Channel) -> tuple[int, int]:
        """Copy both ways until both sides have finished sending (or the tunnel stops)."""
        sent = received = 0
        reading = {client: True, channel: True}
        try:
            while any(reading.values()) and not self._stop.is_set():
                ready, _, _ = select.select([s for s, on in reading.items() if on], [], [], POLL)
                if client in ready:
                    data = client.recv(BUFFER)
                    if data:
                        channel.sendall(data)
                        sent += len(data)
                    else:
                        reading[client] = False
                        channel.shutdown_write()
                if channel in ready:
                    data = channel.recv(BUFFER)
                    if data:
                        client.sendall(data)
                        received += len(data)
                    else:
                        reading[channel] = False
                        client.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # either side reset: the connection is over, and reported as closed
        finally:
            channel.close()
            client.close()
        return sent, received

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the tunnel stops (closed, or its SSH connection dropped); True if it did."""
        return self._stop.wait(timeout)

    def close(self) -> None:
        """Stop accepting, end every forwarded connection, and wait for their threads."""
        self._stop.set()
        self.server.close()
        self._acceptor.join()
        for worker in self._threads:
            worker.join()

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def open_tunnel(
    target: Target | str,
    remote_port: int,
    *,
    remote_host: str = "127.0.0.1",
    local_port: int = 0,
    options: SSHOptions | None = None,
    on_event: EventCallback | None = None,
) -> Iterator[Tunnel]:
    """Connect to `target` and forward a local port (`tunnel.local_port`) to `remote_port`."""
    with (
        connect(target, options) as connection,
        Tunnel(
            connection,
            remote_port,
            remote_host=remote_host,
            local_port=local_port,
            on_event=on_event,
        ) as tunnel,
    ):
        yield tunnel
