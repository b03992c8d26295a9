"""A blocking, thread-safe DAP client over one TCP connection.

One reader thread owns the receiving side. Requests are `concurrent.futures.Future`s kept
in a dict keyed by `seq` and settled by the response's `request_seq` (adapters may answer
out of order: debugpy holds `attach` until `configurationDone`). Events go to listeners
and into a bounded backlog that `wait_for_event` consumes. When the connection drops,
every pending request and event wait fails with `DapConnectionLost`, so no caller hangs.

Futures suit both callers: tests and Textual thread workers block on them, async code
wraps them with `asyncio.wrap_future`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from replay.dap.errors import (
    DapConnectionError,
    DapConnectionLost,
    DapProtocolError,
    DapRequestError,
    DapTimeout,
)
from replay.dap.framing import FrameDecoder, Message, encode
from replay.dap.model import (
    Breakpoint,
    DapEvent,
    EvaluateResult,
    ExceptionInfo,
    Scope,
    SourceBreakpoint,
    StackFrame,
    Thread,
    Variable,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
EventListener = Callable[[DapEvent], None]
EventPredicate = Callable[[DapEvent], bool]

DEFAULT_TIMEOUT = 10.0
EVENT_BACKLOG = 4096
"""Unclaimed events kept for `wait_for_event`; older ones are dropped, so a flood of
`output` events cannot grow memory without bound."""

_RECV_BYTES = 65536


@dataclass(frozen=True, slots=True, eq=False)
class _EventWaiter:
    names: frozenset[str]
    predicate: EventPredicate | None
    future: Future[DapEvent]

    def wants(self, event: DapEvent) -> bool:
        return event.event in self.names and (self.predicate is None or self.predicate(event))


class DapClient:
    """One DAP connection. Build it with `DapClient.connect(host, port)`.

    Listeners and event predicates run on the reader thread: they must return quickly and
    must not wait for a response themselves (the reader is the one who would deliver it).
    """

    def __init__(self, sock: socket.socket, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        """Default wait, in seconds, for a response."""
        self.capabilities: dict[str, Any] = {}
        """The adapter's `initialize` reply, once `initialize()` has run."""
        self._sock = sock
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._seq = 0
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._waiters: list[_EventWaiter] = []
        self._backlog: deque[DapEvent] = deque(maxlen=EVENT_BACKLOG)
        self._listeners: list[EventListener] = []
        self._lost: DapConnectionLost | None = None
        self._closing = False
        self._reader = threading.Thread(target=self._read_loop, name="dap-reader", daemon=True)
        self._reader.start()

    @classmethod
    def connect(cls, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT) -> DapClient:
        """Open a TCP connection with TCP_NODELAY, so small requests are not held back."""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise DapConnectionError(f"cannot connect to the debug adapter at {host}:{port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)  # the reader blocks in recv(); waits are bounded by futures
        return cls(sock, timeout=timeout)

    @property
    def connected(self) -> bool:
        return self._lost is None

    # -- requests ---------------------------------------------------------------------

    def send_request(self, command: str, arguments: Mapping[str, Any] | None = None) -> Future[dict[str, Any]]:
        """Send a request now; the future gives the response body or raises `DapError`."""
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._lost is not None:
                future.set_exception(self._lost)
                return future
            self._seq += 1
            seq = self._seq
            self._pending[seq] = future
        future.add_done_callback(lambda _: self._forget_request(seq))
        message: Message = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = dict(arguments)
        self._send(message)
        return future

    def request(
        self, command: str, arguments: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a request and wait for its response body."""
        return self.result(self.send_request(command, arguments), timeout, f"response to {command!r}")

    def result(self, future: Future[T], timeout: float | None, what: str) -> T:
        """Wait for a future from this client, turning a timeout into `DapTimeout`.

        A timed-out future is cancelled: its late response is dropped, and a late event
        stays queued for the next wait instead of going to a caller who left.
        """
        timeout = self.timeout if timeout is None else timeout
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.cancel():
                raise DapTimeout(f"no {what} within {timeout:g} s") from None
            return future.result()  # settled while we gave up: take it

    # -- events -----------------------------------------------------------------------

    def add_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call `listener` for every event from now on; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def expect_event(self, name: str | Collection[str], predicate: EventPredicate | None = None) -> Future[DapEvent]:
        """A future for the oldest unclaimed event named `name` (or any of several names).

        An event that already arrived counts, so asking after the fact does not miss it;
        the event is claimed and no other wait sees it.
        """
        waiter = _EventWaiter(frozenset([name] if isinstance(name, str) else name), predicate, Future())
        with self._lock:
            event = next((e for e in self._backlog if waiter.wants(e)), None)
            if event is not None:
                self._backlog.remove(event)
            elif self._lost is None:
                self._waiters.append(waiter)
            lost = self._lost
        if event is not None:
            waiter.future.set_result(event)
        elif lost is not None:
            waiter.future.set_exception(lost)
        else:
            waiter.future.add_done_callback(lambda _: self._forget_waiter(waiter))
        return waiter.future

    def wait_for_event(
        self,
        name: str | Collection[str],
        timeout: float | None = None,
        predicate: EventPredicate | None = None,
    ) -> DapEvent:
        """Block until `expect_event(name, predicate)` is satisfied."""
        return self.result(self.expect_event(name, predicate), timeout, f"{name!r} event")

    # -- typed requests ---------------------------------------------------------------

    def initialize(self) -> dict[str, Any]:
        """Start the session; returns (and keeps) the adapter's capabilities.

        We do not claim `supportsStartDebuggingRequest`, so debugpy announces
        subprocesses with `debugpyAttach` events, which `DapSession` follows.
        """
        self.capabilities = self.request(
            "initialize",
            {
                "clientID": "replay",
                "clientName": "replay",
                "adapterID": "debugpy",
                "pathFormat": "path",
                "linesStartAt1": True,
                "columnsStartAt1": True,
                "supportsVariableType": True,
            },
        )
        return self.capabilities

    def attach(self, arguments: Mapping[str, Any]) -> Future[dict[str, Any]]:
        """Send `attach` without waiting: debugpy answers it only after `configurationDone`."""
        return self.send_request("attach", arguments)

    def set_breakpoints(self, path: str, breakpoints: Sequence[int | SourceBreakpoint]) -> list[Breakpoint]:
        """Replace all breakpoints in `path`; returns the adapter's verdict for each."""
        wanted = [SourceBreakpoint(b) if isinstance(b, int) else b for b in breakpoints]
        body = self.request(
            "setBreakpoints",
            {"source": {"path": path}, "breakpoints": [b.to_dap() for b in wanted]},
        )
        return [Breakpoint.from_dap(b) for b in body.get("breakpoints", [])]

    def set_exception_breakpoints(self, filters: Sequence[str]) -> None:
        self.request("setExceptionBreakpoints", {"filters": list(filters)})

    def configuration_done(self) -> None:
        self.request("configurationDone")

    def threads(self) -> list[Thread]:
        return [Thread.from_dap(t) for t in self.request("threads").get("threads", [])]

    def stack_trace(self, thread_id: int, *, start_frame: int = 0, levels: int = 0) -> list[StackFrame]:
        """Frames of a stopped thread, innermost first; `levels=0` means all of them."""
        body = self.request("stackTrace", {"threadId": thread_id, "startFrame": start_frame, "levels": levels})
        return [StackFrame.from_dap(f) for f in body.get("stackFrames", [])]

    def scopes(self, frame_id: int) -> list[Scope]:
        return [Scope.from_dap(s) for s in self.request("scopes", {"frameId": frame_id}).get("scopes", [])]

    def variables(self, reference: int, *, start: int = 0, count: int | None = None) -> list[Variable]:
        """Children `[start, start + count)` of a scope or variable (all when `count` is None).

        The window is cut here, not by the adapter: debugpy ignores DAP's `start`/`count`
        (pydevd never reads them) and instead pages big containers itself, with the first
        100 items followed by an expandable "more" row.
        """
        rows = self.request("variables", {"variablesReference": reference}).get("variables", [])
        stop = None if count is None else start + count
        return [Variable.from_dap(v) for v in rows[start:stop]]

    def evaluate(
        self,
        expression: str,
        *,
        frame_id: int | None = None,
        context: str = "repl",
        timeout: float | None = None,
    ) -> EvaluateResult:
        """Evaluate in a frame (or globally); `timeout` allows for slow user expressions."""
        arguments: dict[str, Any] = {"expression": expression, "context": context}
        if frame_id is not None:
            arguments["frameId"] = frame_id
        return EvaluateResult.from_dap(self.request("evaluate", arguments, timeout=timeout))

    def exception_info(self, thread_id: int) -> ExceptionInfo:
        return ExceptionInfo.from_dap(self.request("exceptionInfo", {"threadId": thread_id}))

    def continue_(self, thread_id: int) -> None:
        """Resume; debugpy always resumes every thread, whatever `thread_id` says."""
        self._thread_request("continue", thread_id)

    def next(self, thread_id: int) -> None:
        self._thread_request("next", thread_id)

    def step_in(self, thread_id: int) -> None:
        self._thread_request("stepIn", thread_id)

    def step_out(self, thread_id: int) -> None:
        self._thread_request("stepOut", thread_id)

    def pause(self, thread_id: int) -> None:
        self._thread_request("pause", thread_id)

    def disconnect(self, *, terminate_debuggee: bool = False) -> None:
        """Detach (the debuggee runs on) or, with `terminate_debuggee`, kill it."""
        self.request("disconnect", {"terminateDebuggee": terminate_debuggee})

    def _thread_request(self, command: str, thread_id: int) -> None:
        self.request(command, {"threadId": thread_id})

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Drop the connection; pending requests and waits fail with `DapConnectionLost`."""
        with self._lock:
            self._closing = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader out of recv()
        except OSError:
            pass  # the peer already went away: nothing left to shut down
        if threading.current_thread() is not self._reader:
            self._reader.join(self.timeout)
        self._sock.close()

    def __enter__(self) -> DapClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        data = encode(message)
        try:
            with self._send_lock:
                self._sock.sendall(data)
        except OSError as exc:
            self._connection_lost(f"sending {message.get('command')!r} failed: {exc}")

    def _read_loop(self) -> None:
        reason = "the adapter closed the connection"
        decoder = FrameDecoder()
        try:
            while chunk := self._sock.recv(_RECV_BYTES):
                for message in decoder.feed(chunk):
                    self._dispatch(message)
        except (OSError, DapProtocolError) as exc:
            reason = str(exc)
        except BaseException as exc:
            reason = f"the reader failed: {exc!r}"
            raise
        finally:
            # Runs even if a bug escapes the loop, so nobody waits forever on a dead reader.
            self._connection_lost("the client closed the connection" if self._closing else reason)

    def _dispatch(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "response":
            self._settle_response(message)
        elif kind == "event":
            self._deliver_event(DapEvent(str(message.get("event")), message.get("body") or {}))
        elif kind == "request":
            self._refuse_reverse_request(message)
        else:
            raise DapProtocolError(f"message of unknown type {kind!r}")

    def _settle_response(self, message: Message) -> None:
        with self._lock:
            future = self._pending.pop(message.get("request_seq", -1), None)
        if future is None or not future.set_running_or_notify_cancel():
            logger.debug("dropping response nobody waits for: %r", message.get("command"))
        elif message.get("success"):
            future.set_result(message.get("body") or {})
        else:
            body = message.get("body") or {}
            detail = message.get("message") or (body.get("error") or {}).get("format") or "no reason given"
            future.set_exception(DapRequestError(str(message.get("command")), detail, body))

    def _deliver_event(self, event: DapEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                # A faulty listener must not take the connection down with it.
                logger.exception("DAP event listener failed on %r", event.event)
        while True:
            with self._lock:
                waiter = next((w for w in self._waiters if w.wants(event)), None)
                if waiter is None:
                    self._backlog.append(event)
                    return
                self._waiters.remove(waiter)
            if waiter.future.set_running_or_notify_cancel():
                waiter.future.set_result(event)
                return
            # that waiter gave up in the meantime: offer the event to the next one

    def _refuse_reverse_request(self, message: Message) -> None:
        """Answer adapter-to-client requests (e.g. `runInTerminal`) so the adapter never waits."""
        with self._lock:
            self._seq += 1
            seq = self._seq
        self._send(
            {
                "seq": seq,
                "type": "response",
                "request_seq": message.get("seq"),
                "command": message.get("command"),
                "success": False,
                "message": "replay's DAP client does not support reverse requests",
            }
        )

    def _connection_lost(self, reason: str) -> None:
        error = DapConnectionLost(f"debug adapter connection lost: {reason}")
        with self._lock:
            if self._lost is not None:
                return
            self._lost = error
            futures: list[Future[Any]] = [*self._pending.values(), *(w.future for w in self._waiters)]
            self._pending.clear()
            self._waiters.clear()
        for future in futures:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)

    def _forget_request(self, seq: int) -> None:
        with self._lock:
            self._pending.pop(seq, None)

    def _forget_waiter(self, waiter: _EventWaiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
