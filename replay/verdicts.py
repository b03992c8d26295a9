"""The verdict history kept beside each capture (`replays/<id>/verdicts.json`).

Standard library only: the TUI lists the last verdict of thousands of captures and
must not pay for pydantic to do so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replay.store import LocalStore

HISTORY = "verdicts.json"
KEEP = 50


def remember(store: LocalStore, capture_id: str, entry: dict[str, Any]) -> None:
    """Append one replay's verdict (a JSON object) to the capture's history."""
    history = store.read_json(capture_id, HISTORY)
    history = history if isinstance(history, list) else []
    stamped = {**entry, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    store.write_json(capture_id, HISTORY, [*history[-(KEEP - 1) :], stamped])


def last_verdict(store: LocalStore, capture_id: str) -> str | None:
    history = store.read_json(capture_id, HISTORY)
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        return str(history[-1].get("verdict"))
    return None
