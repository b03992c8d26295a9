"""The browser's rows: capture summaries with the last verdict, filtered and sorted.

Filtering runs on every key press over the whole store (10,000 captures must stay
instant), so each row carries one lower-case haystack built once, and a query is a few
substring tests per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

SortKey = Literal["created", "id", "step", "verdict", "error"]
SORT_KEYS: tuple[SortKey, ...] = ("created", "id", "step", "verdict", "error")


FIELDS = ("id", "step", "created", "status", "error", "host")
"""The summary fields a row keeps, in the order its haystack joins them."""


class CaptureRow(NamedTuple):
    """One capture as the browser shows it.

    A named tuple rather than a frozen dataclass: a store of 10,000 captures builds
    10,000 rows while the user waits, and a frozen dataclass's `__init__` took three
    times as long.
    """

    id: str
    step: str
    created: str
    status: str
    error: str
    host: str
    verdict: str
    """The last replay's verdict, or "" when it was never replayed."""
    haystack: str

    @classmethod
    def from_fields(cls, fields: Sequence[str | None], verdict: str = "") -> CaptureRow:
        """Build a row from a capture's summary values in `FIELDS` order (None for a
        missing one, such as the error of a capture that did not fail), and its last
        verdict when known."""
        values = [value or "" for value in fields]
        return cls(*values, verdict, _haystack(*values, verdict))

    def with_verdict(self, verdict: str) -> CaptureRow:
        """This row once its last verdict is known (verdicts are read after the listing)."""
        words = _haystack(self.id, self.step, self.created, self.status, self.error, self.host, verdict)
        return self._replace(verdict=verdict, haystack=words)


def _haystack(*fields: str) -> str:
    return " ".join(fields).lower()


def filter_rows(rows: Sequence[CaptureRow], query: str) -> list[CaptureRow]:
    """Rows containing every word of `query` (case-insensitive) in any column."""
    words = query.lower().split()
    if not words:
        return list(rows)
    return [row for row in rows if all(word in row.haystack for word in words)]


def sort_rows(rows: Iterable[CaptureRow], key: SortKey, descending: bool) -> list[CaptureRow]:
    """Rows ordered by one column; ties keep the newest first, so the order is stable."""
    by_time = sorted(rows, key=lambda r: (r.created, r.id), reverse=True)
    if key == "created":
        return by_time if descending else by_time[::-1]
    return sorted(by_time, key=lambda r: getattr(r, key).lower(), reverse=descending)


class RowView:
    """The rows the browser shows: all rows sorted once, then narrowed per query.

    Sorting happens only when the rows or the order change. A query that extends the
    previous one (the user typing on) can only narrow it, so it filters the previous
    result instead of the whole store.
    """

    def __init__(self) -> None:
        self.rows: list[CaptureRow] = []
        self.sort: tuple[SortKey, bool] = ("created", True)
        self._sorted: list[CaptureRow] = []
        self._query = ""
        self._shown: list[CaptureRow] = []

    def set_rows(self, rows: list[CaptureRow]) -> None:
        self.rows = rows
        self._resort()

    def set_sort(self, key: SortKey, descending: bool) -> None:
        self.sort = (key, descending)
        self._resort()

    def _resort(self) -> None:
        self._sorted = sort_rows(self.rows, *self.sort)
        self._query, self._shown = "", self._sorted

    def shown(self, query: str) -> list[CaptureRow]:
        base = self._shown if self._query and query.startswith(self._query) else self._sorted
        self._query, self._shown = query, filter_rows(base, query)
        return self._shown
