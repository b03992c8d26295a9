"""What the debugger screen's workers report back to it, one message per result.

Workers run on other threads and never touch widgets; they post one of these and the
screen, on the UI thread, decides what the result means (it may be stale by then: a
restart bumps `run`, a new stop replaces the one a frame was loaded for).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message

from replay.dap import DapEvent, DapSession, Variable
from tui.debug.events import SessionEnd
from tui.debug.replay_process import ReplayEnded
from tui.debug.sessions import SessionState
from tui.debug.views import FrameView, StopView


@dataclass
class ReplayListening(Message):
    run: int
    host: str
    port: int


@dataclass
class ReplayFinished(Message):
    run: int
    ended: ReplayEnded
    last_words: str
    """The child's last `replay: …` line, which says why when there is no verdict."""


@dataclass
class Attached(Message):
    state: SessionState


@dataclass
class AttachFailed(Message):
    run: int
    error: str


@dataclass
class ChildAttached(Message):
    session: DapSession
    run: int


@dataclass
class EventArrived(Message):
    state: SessionState
    event: DapEvent


@dataclass
class SessionEnded(Message):
    state: SessionState
    end: SessionEnd


@dataclass
class StopLoaded(Message):
    state: SessionState
    stopped: StopView


@dataclass
class FrameLoaded(Message):
    state: SessionState
    stopped: StopView
    """The stop the frame was loaded for (`stop` is taken: Message.stop())."""
    index: int
    view: FrameView
    lines: tuple[Text, ...]


@dataclass
class ChildrenLoaded(Message):
    node_id: int
    generation: int
    rows: list[Variable]


@dataclass
class Evaluated(Message):
    text: str
    error: bool


class OutputPending(Message):
    """Output waits in the buffer (at most one of these is queued at any time)."""


@dataclass
class Problem(Message):
    text: str
