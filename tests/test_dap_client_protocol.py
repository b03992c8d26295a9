"""DapClient and the attach handshake against a scripted fake adapter.

The fake plays orders real debugpy never shows on demand: responses out of order, a
refused attach, a dropped connection mid-request, garbage on the wire.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from replay.dap import DapClient, DapConnectionError, DapConnectionLost, DapEvent, DapRequestError, DapTimeout
from replay.dap.framing import FrameDecoder, Message, encode
from replay.dap.session import AttachOptions, DapSession

WAIT = 5.0


class FakeAdapter:
    """The adapter's end of a connection, driven step by step by the test."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(WAIT)
        self._decoder = FrameDecoder()
        self._inbox: list[Message] = []
        self._seq = 1000

    def receive(self) -> Message:
        while not self._inbox:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the client hung up")
            self._inbox += self._decoder.feed(chunk)
        return self._inbox.pop(0)

    def send(self, message: Message) -> None:
        self.sock.sendall(encode(message))

    def respond(self, request: Message, body: dict[str, Any] | None = None, *, error: str | None = None) -> None:
        self._seq += 1
        response: Message = {
            "seq": self._seq,
            "type": "response",
            "request_seq": request["seq"],
            "command": request["command"],
            "success": error is None,
        }
        if error is not None:
            response["message"] = error
        if body is not None:
            response["body"] = body
        self.send(response)

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        self._seq += 1
        message: Message = {"seq": self._seq, "type": "event", "event": name}
        if body is not None:
            message["body"] = body
        self.send(message)


@pytest.fixture
def connection() -> Iterator[tuple[DapClient, FakeAdapter]]:
    ours, theirs = socket.socketpair()
    client = DapClient(ours, timeout=WAIT)
    yield client, FakeAdapter(theirs)
    client.close()
    theirs.close()


def test_responses_are_matched_by_request_seq_not_by_arrival_order(connection) -> None:
    client, adapter = connection
    threads = client.send_request("threads")
    scopes = client.send_request("scopes", {"frameId": 3})
    first, second = adapter.receive(), adapter.receive()

    adapter.respond(second, {"scopes": []})
    adapter.respond(first, {"threads": [{"id": 1, "name": "MainThread"}]})

    assert threads.result(WAIT) == {"threads": [{"id": 1, "name": "MainThread"}]}
    assert scopes.result(WAIT) == {"scopes": []}


def test_a_failed_response_raises_request_error_with_the_adapter_message(connection) -> None:
    client, adapter = connection
    pending = client.send_request("evaluate", {"expression": "nope"})

    adapter.respond(adapter.receive(), error="name 'nope' is not defined")

    with pytest.raises(DapRequestError, match="evaluate failed: name 'nope' is not defined"):
        pending.result(WAIT)


def test_a_dropped_connection_fails_every_pending_request_and_event_wait(connection) -> None:
    client, adapter = connection
    pending = client.send_request("threads")
    stop = client.expect_event("stopped")
    adapter.receive()

    adapter.sock.close()

    with pytest.raises(DapConnectionLost):
        pending.result(WAIT)
    with pytest.raises(DapConnectionLost):
        stop.result(WAIT)
    with pytest.raises(DapConnectionLost):
        client.threads()
    assert not client.connected


def test_garbage_on_the_wire_drops_the_connection_with_the_reason(connection) -> None:
    client, adapter = connection
    pending = client.send_request("threads")

    adapter.sock.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    with pytest.raises(DapConnectionLost, match="header line without"):
        pending.result(WAIT)


def test_an_event_that_arrived_first_still_satisfies_a_later_wait_and_reaches_listeners(connection) -> None:
    client, adapter = connection
    heard: list[DapEvent] = []
    client.add_listener(heard.append)

    adapter.event("initialized")  # debugpy sends it without a body
    event = client.wait_for_event("initialized", WAIT)

    assert event == DapEvent("initialized", {})
    assert heard == [event]


def test_wait_for_event_takes_the_oldest_event_the_predicate_accepts(connection) -> None:
    client, adapter = connection
    adapter.event("stopped", {"reason": "breakpoint", "threadId": 1})
    adapter.event("stopped", {"reason": "exception", "threadId": 2})

    second = client.wait_for_event("stopped", WAIT, predicate=lambda e: e.body["threadId"] == 2)
    first = client.wait_for_event("stopped", WAIT)

    assert (second.body["reason"], first.body["reason"]) == ("exception", "breakpoint")


def test_an_event_after_a_timed_out_wait_is_kept_for_the_next_wait(connection) -> None:
    client, adapter = connection
    with pytest.raises(DapTimeout):
        client.wait_for_event("stopped", 0.05)

    adapter.event("stopped", {"reason": "pause"})

    assert client.wait_for_event("stopped", WAIT).body == {"reason": "pause"}


def test_a_request_timeout_leaves_the_connection_usable(connection) -> None:
    client, adapter = connection
    with pytest.raises(DapTimeout, match="no response to 'threads' within"):
        client.request("threads", timeout=0.05)
    late = adapter.receive()
    adapter.respond(late, {"threads": []})  # nobody waits for it any more: dropped

    pending = client.send_request("scopes", {"frameId": 1})
    adapter.respond(adapter.receive(), {"scopes": []})

    assert pending.result(WAIT) == {"scopes": []}


def test_a_reverse_request_from_the_adapter_is_refused_not_left_waiting(connection) -> None:
    _, adapter = connection

    adapter.send({"seq": 5, "type": "request", "command": "runInTerminal", "arguments": {}})
    answer = adapter.receive()

    assert answer["type"] == "response"
    assert (answer["request_seq"], answer["command"], answer["success"]) == (5, "runInTerminal", False)


def test_connect_sets_tcp_nodelay_on_its_socket(monkeypatch) -> None:
    made: list[socket.socket] = []
    create_connection = socket.create_connection

    def recording_create_connection(*args: Any, **kwargs: Any) -> socket.socket:
        made.append(create_connection(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(socket, "create_connection", recording_create_connection)
    with socket.create_server(("127.0.0.1", 0)) as server, DapClient.connect(*server.getsockname(), timeout=WAIT):
        assert made[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_connecting_to_a_closed_port_raises_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]

    with pytest.raises(DapConnectionError, match=f"127.0.0.1:{port}"):
        DapClient.connect("127.0.0.1", port, timeout=WAIT)


class ScriptedDebugpy(threading.Thread):
    """A TCP adapter that follows debugpy's attach rules and records the commands it saw."""

    def __init__(self, *, refuse_attach: bool = False) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = self.server.getsockname()
        self.refuse_attach = refuse_attach
        self.commands: list[str] = []

    def run(self) -> None:
        conn, _ = self.server.accept()
        adapter = FakeAdapter(conn)
        attach: Message | None = None
        try:
            while True:
                request = adapter.receive()
                self.commands.append(request["command"])
                if request["command"] == "attach":
                    if self.refuse_attach:
                        adapter.respond(request, error="already attached")
                        continue
                    attach = request  # answered only after configurationDone, like debugpy
                    adapter.event("initialized")
                    continue
                adapter.respond(request, {"breakpoints": [{"verified": True, "line": 3}]})
                if request["command"] == "configurationDone":
                    assert attach is not None
                    adapter.respond(attach)
        except OSError:
            pass  # the client hung up: the script is over
        finally:
            conn.close()
            self.server.close()


def test_attach_handshake_follows_debugpys_order_without_waiting_for_attach() -> None:
    adapter = ScriptedDebugpy()
    adapter.start()
    options = AttachOptions(breakpoints={"/src/step.py": [3]}, timeout=WAIT)

    session = DapSession.open(*adapter.address, {"justMyCode": False}, options, name="main")
    session.close()
    adapter.join(WAIT)

    assert adapter.commands == [
        "initialize",
        "attach",
        "setBreakpoints",
        "setExceptionBreakpoints",
        "configurationDone",
        "disconnect",
    ]
    assert session.breakpoints["/src/step.py"][0].verified


def test_a_refused_attach_fails_fast_with_the_adapters_reason() -> None:
    adapter = ScriptedDebugpy(refuse_attach=True)
    adapter.start()
    options = AttachOptions(timeout=30.0)  # the refusal must not wait for this

    with pytest.raises(DapRequestError, match="already attached"):
        DapSession.open(*adapter.address, {}, options, name="main")
    adapter.join(WAIT)


def test_importing_replay_dap_pulls_in_no_debugger_and_no_ui() -> None:
    code = (
        "import sys, replay.dap; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'debugpy', 'pydevd', '_pydevd_bundle', 'textual', 'tui', 'paramiko', 'pandas'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert out.stdout.strip() == "[]"
