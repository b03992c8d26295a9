"""Reading the store for the browser, off the UI thread, cheapest first.

The listing comes first and alone, so a big store is on screen and filterable as soon
as its index is read; the last verdict of each capture (one small file per replayed
capture) follows in a second pass. Opening a capture reads its manifest and captured
source. The heavier imports (pydantic models, the replay engine) happen inside these
functions, on the worker threads, so they never delay the first screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from replay.store import LocalStore
from tui.rows import CaptureRow

if TYPE_CHECKING:
    from replay.bundle import Manifest


def list_rows(store: LocalStore) -> list[CaptureRow]:
    """Every capture, without verdicts yet."""
    return [CaptureRow.from_summary(summary, None) for summary in store.list()]


def last_verdicts(store: LocalStore, ids: Iterable[str]) -> dict[str, str]:
    """The last replay's verdict of each capture that has been replayed."""
    from replay.verdicts import last_verdict

    found = {capture_id: last_verdict(store, capture_id) for capture_id in ids}
    return {capture_id: verdict for capture_id, verdict in found.items() if verdict}


@dataclass(frozen=True)
class OpenedCapture:
    """Everything the detail view shows."""

    manifest: Manifest
    history: list[dict[str, Any]]
    sources: dict[str, str]


def open_capture(store: LocalStore, capture_id: str) -> OpenedCapture:
    """The manifest, its verdict history and its captured source; raises `ReplayError`."""
    from tui.capture_source import captured_sources

    manifest = store.load(capture_id)
    history = store.read_json(capture_id, "verdicts.json")
    entries = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    return OpenedCapture(manifest, entries, captured_sources(store, manifest))
