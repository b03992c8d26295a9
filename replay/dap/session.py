"""Attach to a listening debugpy and follow its subprocesses.

`attach()` runs the sequence verified against debugpy (REFERENCE B): initialize, attach
without waiting, `initialized`, breakpoints, exception filters, configurationDone, and
only then the attach response. A `DapSession` adds what the TUI and the tests read:
`wait_for_stop()` with the stack, and `locals_of()` without debugpy's folder rows.

debugpy announces each debugged subprocess (a multiprocessing or DataLoader worker) with
a `debugpyAttach` event, and the subprocess blocks until some client configures it. With
`follow_children`, each one gets its own connection and `DapSession`, and closing a
session closes its children first, so no worker is left waiting for a debugger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from replay.dap.client import DEFAULT_TIMEOUT, DapClient
from replay.dap.errors import DapConnectionLost, DapError, DapTimeout, DebuggeeTerminated
from replay.dap.model import Breakpoint, DapEvent, SourceBreakpoint, Stop, StoppedEvent, Variable

logger = logging.getLogger(__name__)

ChildCallback = Callable[["DapSession"], None]


@dataclass(frozen=True)
class AttachOptions:
    """What every session of one debuggee tree is configured with, children included."""

    breakpoints: Mapping[str, Sequence[int | SourceBreakpoint]] = field(default_factory=dict)
    exception_filters: Sequence[str] = ("uncaught",)
    follow_children: bool = True
    timeout: float = DEFAULT_TIMEOUT


def attach(
    host: str,
    port: int,
    *,
    path_mappings: Sequence[Mapping[str, str]] | None = None,
    breakpoints: Mapping[str, Sequence[int | SourceBreakpoint]] | None = None,
    exception_filters: Sequence[str] = ("uncaught",),
    just_my_code: bool = False,
    follow_children: bool = True,
    on_child: ChildCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> DapSession:
    """Attach to the debugpy adapter at host:port and let the debuggee run.

    `path_mappings` are `{"localRoot", "remoteRoot"}` pairs; `breakpoints` maps a (local)
    file to its lines. `on_child` is called, on a background thread, with each subprocess
    session once it is configured. `timeout` bounds each step of the handshake and is the
    session's default wait for responses.
    """
    arguments: dict[str, Any] = {"justMyCode": just_my_code}
    if path_mappings:
        arguments["pathMappings"] = [dict(m) for m in path_mappings]
    options = AttachOptions(
        breakpoints=dict(breakpoints or {}),
        exception_filters=tuple(exception_filters),
        follow_children=follow_children,
        timeout=timeout,
    )
    return DapSession.open(host, port, arguments, options, name="main", on_child=on_child)


class DapSession:
    """A configured DAP connection to one debuggee process, plus its followed children."""

    def __init__(
        self,
        client: DapClient,
        address: tuple[str, int],
        options: AttachOptions,
        *,
        name: str,
        on_child: ChildCallback | None = None,
    ) -> None:
        self.client = client
        """The connection, for stepping and inspection beyond the helpers here."""
        self.name = name
        """"main", or debugpy's "Subprocess <pid>" for a child."""
        self.breakpoints: dict[str, list[Breakpoint]] = {}
        """The adapter's verdict on each requested breakpoint, by file."""
        self._address = address
        self._options = options
        self._on_child = on_child
        self._lock = threading.Lock()
        self._children: list[DapSession] = []
        self._attaching: list[threading.Thread] = []
        self._closed = False
        if options.follow_children:
            client.add_listener(self._on_event)

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        attach_arguments: Mapping[str, Any],
        options: AttachOptions,
        *,
        name: str,
        on_child: ChildCallback | None = None,
    ) -> DapSession:
        """Connect and run the attach handshake; closes the connection if it fails."""
        session = cls(
            DapClient.connect(host, port, timeout=options.timeout), (host, port), options, name=name, on_child=on_child
        )
        try:
            session._handshake(attach_arguments)
        except BaseException:
            session.close()
            raise
        return session

    @property
    def children(self) -> list[DapSession]:
        """Sessions of the direct subprocesses attached so far (a snapshot)."""
        with self._lock:
            return list(self._children)

    def wait_for_stop(self, timeout: float | None = None) -> Stop:
        """Wait for the next `stopped` event and return it with the stopped thread's stack.

        Raises `DebuggeeTerminated` if the debuggee ends first.
        """
        event = self.client.wait_for_event(("stopped", "terminated"), timeout)
        if event.event == "terminated":
            raise DebuggeeTerminated(f"{self.name} terminated while waiting for a stop")
        stopped = StoppedEvent.from_dap(event.body)
        thread_id = stopped.thread_id if stopped.thread_id is not None else self.client.threads()[0].id
        return Stop(stopped, thread_id, tuple(self.client.stack_trace(thread_id)))

    def locals_of(self, frame_id: int) -> dict[str, Variable]:
        """The local variables of a frame by name, without debugpy's folder rows."""
        scopes = self.client.scopes(frame_id)
        scope = next((s for s in scopes if s.presentation_hint == "locals"), scopes[0])
        return {v.name: v for v in self.client.variables(scope.variables_reference) if not v.is_group}

    def close(self, *, terminate_debuggee: bool = False) -> None:
        """Disconnect children, then this process; idempotent.

        Without `terminate_debuggee` every process runs on undebugged.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            attaching = list(self._attaching)
        for thread in attaching:
            if thread is not threading.current_thread():  # close() called from on_child
                thread.join(self._options.timeout)
        for child in self.children:
            child.close(terminate_debuggee=terminate_debuggee)
        try:
            if self.client.connected:
                self.client.disconnect(terminate_debuggee=terminate_debuggee)
        except (DapConnectionLost, DapTimeout) as exc:
            logger.info("%s: disconnect not acknowledged: %s", self.name, exc)
        finally:
            self.client.close()

    def __enter__(self) -> DapSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _handshake(self, attach_arguments: Mapping[str, Any]) -> None:
        client = self.client
        initialized = client.expect_event("initialized")
        client.initialize()
        attached = client.attach(attach_arguments)
        either: list[Future[Any]] = [initialized, attached]
        done, _ = wait(either, self._options.timeout, return_when=FIRST_COMPLETED)
        if attached in done and initialized not in done:
            attached.result()  # a refused attach never brings `initialized`: raise its reason
        client.result(initialized, self._options.timeout if done else 0, "'initialized' event")
        for path, lines in self._options.breakpoints.items():
            self.breakpoints[path] = client.set_breakpoints(path, lines)
        client.set_exception_breakpoints(self._options.exception_filters)
        client.configuration_done()
        client.result(attached, None, "response to 'attach'")

    def _on_event(self, event: DapEvent) -> None:
        """On the reader thread: hand each announced subprocess to its own thread."""
        if event.event != "debugpyAttach":
            return
        thread = threading.Thread(
            target=self._attach_child,
            args=(event.body,),
            name=f"dap-attach-{event.body.get('subProcessId')}",
            daemon=True,
        )
        with self._lock:
            if self._closed:
                return
            self._attaching.append(thread)
        thread.start()

    def _attach_child(self, body: dict[str, Any]) -> None:
        # Connect to the address we reached the parent at, not `body["connect"]`: behind an
        # SSH tunnel that is the remote side's address.
        host, port = self._address
        name = str(body.get("name", "subprocess"))
        try:
            child = DapSession.open(host, port, body, self._options, name=name, on_child=self._on_child)
        except DapError as exc:
            logger.warning("could not attach to %s: %s", name, exc)
            return
        with self._lock:
            closed = self._closed
            if not closed:
                self._children.append(child)
        if closed:
            child.close()
        elif self._on_child is not None:
            self._on_child(child)
