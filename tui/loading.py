"""Reading the store for the browser, cheapest first.

The listing comes first and alone, straight from the store's index: once before the
app starts, so that the first frame shows the store, then in a worker whenever captures
arrive. The last verdict of each capture (one small file per replayed capture) follows
in a second pass. Opening a capture reads and validates its manifest and its captured
source; the heavier imports (pydantic models, the replay engine) happen inside these
functions, on the worker threads, so they never delay the first screen.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from replay.errors import ReplayError
from replay.store import LocalStore
from tui.rows import FIELDS, CaptureRow

if TYPE_CHECKING:
    from replay.bundle import Manifest


@dataclass(frozen=True)
class Listing:
    """Every capture in the store, without verdicts yet."""

    rows: list[CaptureRow]
    captures_mtime: int | None
    """The captures folder's mtime from before the rows were read: once it differs,
    captures have arrived (or gone) since."""


def captures_mtime(store: LocalStore) -> int | None:
    try:
        return os.stat(store.captures_dir).st_mtime_ns
    except OSError:
        return None


def read_listing(store: LocalStore) -> Listing:
    """Every capture, straight from the store's index (manifests are read only for
    captures the index has not seen)."""
    mtime = captures_mtime(store)
    return Listing([CaptureRow.from_fields(fields) for fields in store.list_rows(FIELDS)], mtime)


def read_listing_before_start(store: LocalStore) -> Listing | None:
    """`read_listing` before the app runs, so its very first frame shows the store
    (a worker would be starved by the app's own start-up: the listing took up to 0.7 s
    there, against 0.1 s alone). None when the store cannot be read: the browser then
    reads it again in a worker, whose failure is reported in the UI."""
    try:
        return read_listing(store)
    except (ReplayError, OSError, sqlite3.Error):
        return None


def last_verdicts(store: LocalStore, ids: Iterable[str]) -> dict[str, str]:
    """The last replay's verdict of each capture that has been replayed (only those
    have a verdict file, so the others cost nothing)."""
    from replay.verdicts import last_verdict

    replayed = store.with_side_files()
    found = {capture_id: last_verdict(store, capture_id) for capture_id in ids if capture_id in replayed}
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
