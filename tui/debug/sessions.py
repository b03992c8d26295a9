"""What the debugger screen knows about each debug session (the main process and any
subprocess debugpy announced)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replay.dap import DapSession
from tui.debug.views import StopView

Phase = Literal["waiting", "running", "stopped", "exited", "lost"]
PHASES: tuple[Phase, ...] = ("waiting", "running", "stopped", "exited", "lost")


@dataclass(eq=False)
class SessionState:
    session: DapSession
    run: int
    """The replay run this session belongs to; a restart starts a new run."""
    phase: Phase = "running"
    stop: StopView | None = None
    frame_index: int = 0
    said: str = "running"
    """The status line's words for this session."""

    @property
    def name(self) -> str:
        return self.session.name
