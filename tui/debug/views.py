"""DAP calls composed into what the debugger screen shows: a stop, a frame.

Each function makes the few blocking requests one screen update needs, so the screen
runs one worker per update and gets one immutable result back. Everything here runs
off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from replay.dap import DapClient, DapRequestError, Scope, StackFrame, StoppedEvent, Variable


@dataclass(frozen=True)
class StopView:
    """Where a thread stopped: its stack and, for an exception stop, the exception."""

    thread_id: int
    reason: str
    frames: tuple[StackFrame, ...]
    exception: str | None

    def describe(self) -> str:
        """The status line's words: "stopped: exception · ZeroDivisionError: division by zero"."""
        said = f"stopped: {self.reason or 'paused'}"
        return f"{said} · {self.exception}" if self.exception else said


@dataclass(frozen=True)
class ScopeView:
    scope: Scope
    variables: tuple[Variable, ...] | None
    """Loaded rows, or None for a scope expanded only on demand (globals)."""


@dataclass(frozen=True)
class FrameView:
    """One frame ready to show: its source text and its scopes."""

    frame: StackFrame
    source: str | None
    scopes: tuple[ScopeView, ...]


def load_stop(client: DapClient, event: StoppedEvent) -> StopView:
    thread_id = event.thread_id if event.thread_id is not None else client.threads()[0].id
    frames = tuple(client.stack_trace(thread_id))
    exception = None
    if event.reason == "exception":
        info = client.exception_info(thread_id)
        # debugpy appends a "(note: …)" to exceptionId; its first word is the type.
        kind = info.exception_id.split()[0] if info.exception_id.strip() else "exception"
        exception = f"{kind}: {info.description}" if info.description else kind
    return StopView(thread_id, event.reason, frames, exception)


def load_frame(client: DapClient, frame: StackFrame) -> FrameView:
    """The frame's source and scopes; locals are read now, the rest when expanded."""
    scopes = client.scopes(frame.id)
    views = tuple(
        ScopeView(s, tuple(client.variables(s.variables_reference)) if s.presentation_hint == "locals" else None)
        for s in scopes
    )
    return FrameView(frame, read_source(client, frame.path), views)


def read_source(client: DapClient, path: str | None) -> str | None:
    """The file's text from this disk, else from the debuggee (a remote attach), else None."""
    if path is None:
        return None
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        pass  # not on this machine: ask the debuggee, which has it
    try:
        body = client.request("source", {"source": {"path": path}, "sourceReference": 0})
    except DapRequestError:
        return None
    content = body.get("content")
    return content if isinstance(content, str) else None
