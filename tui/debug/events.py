"""The one loop that reads a session's events, in order, for the screen.

A listener on the client's reader thread would miss a `stopped` that arrives between
`attach()` returning and the listener being added; `wait_for_event` draws from the
client's backlog, so nothing is missed and nothing is seen twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from replay.dap import DapClient, DapConnectionLost, DapEvent, DapTimeout

WATCHED = ("process", "stopped", "continued", "terminated", "exited", "output")
POLL_S = 0.5
"""How often the loop looks up from waiting to see whether it was cancelled."""


@dataclass(frozen=True)
class SessionEnd:
    reason: str
    lost: bool
    """True when the connection dropped rather than the debuggee ending."""


def pump_events(client: DapClient, deliver: Callable[[DapEvent], None],
                cancelled: Callable[[], bool]) -> SessionEnd:
    """Hand each watched event to `deliver` until the debuggee ends or the link drops."""
    while not cancelled():
        try:
            event = client.wait_for_event(WATCHED, timeout=POLL_S)
        except DapTimeout:
            continue
        except DapConnectionLost as exc:
            return SessionEnd(str(exc), lost=True)
        deliver(event)
        if event.event == "terminated":
            return SessionEnd("the debuggee ended", lost=False)
    return SessionEnd("detached", lost=False)
