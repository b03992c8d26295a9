"""The capture list: a virtual table that draws only the rows on screen.

Textual's DataTable took 3 s to take 10,000 rows here; this table holds a plain list
and renders the visible rows on demand, so opening and re-filtering a big store costs
the same as a small one. The screen hands it rows already filtered and sorted; the table
reports which capture the user opened and which column header was clicked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.style import Style
from textual.message import Message
from textual.strip import Strip

from tui.format import parse_time, relative_time
from tui.rows import CaptureRow, SortKey
from tui.widgets.cursor_lines import CursorLines, text_strip


@dataclass(frozen=True)
class Column:
    key: SortKey
    title: str
    width: int
    """Cells; 0 takes the rest of the line."""


COLUMNS: tuple[Column, ...] = (
    Column("id", "ID", 14),
    Column("step", "STEP", 20),
    Column("created", "WHEN", 13),
    Column("verdict", "LAST REPLAY", 13),
    Column("error", "ERROR", 0),
)
VERDICT_CLASSES = {"reproduced": "verdict-reproduced", "different": "verdict-different", "passed": "verdict-passed"}


class CaptureTable(CursorLines):
    """Rows of captures under a header; Enter or a double click opens one."""

    HEADER_LINES = 1
    COMPONENT_CLASSES = {
        "capture-table--header",
        "capture-table--cursor",
        "capture-table--dim",
        "capture-table--error",
        *(f"capture-table--{name}" for name in VERDICT_CLASSES.values()),
    }
    DEFAULT_CSS = """
    CaptureTable { height: 1fr; }
    CaptureTable > .capture-table--header { text-style: bold; background: $panel; }
    CaptureTable > .capture-table--cursor { background: $accent 40%; }
    CaptureTable:focus > .capture-table--cursor { background: $accent; }
    CaptureTable > .capture-table--dim { color: $text-muted; }
    CaptureTable > .capture-table--error { color: $text-error; }
    CaptureTable > .capture-table--verdict-reproduced { color: $text-warning; }
    CaptureTable > .capture-table--verdict-different { color: $text-secondary; }
    CaptureTable > .capture-table--verdict-passed { color: $text-success; }
    """

    class Opened(Message):
        """The user opened a capture."""

        def __init__(self, capture_id: str) -> None:
            super().__init__()
            self.capture_id = capture_id

    class SortClicked(Message):
        """The user clicked a column header."""

        def __init__(self, key: SortKey) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: Sequence[CaptureRow] = ()
        self._now = datetime.now().astimezone()
        self._sort: tuple[SortKey, bool] = ("created", True)

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> Sequence[CaptureRow]:
        """The rows shown, in order."""
        return self._rows

    @property
    def current(self) -> CaptureRow | None:
        return self._rows[self.cursor] if self._rows else None

    def show(self, rows: Sequence[CaptureRow], now: datetime, sort: tuple[SortKey, bool]) -> None:
        """Replace the rows; the cursor stays on the same capture when it is still shown."""
        keep = self.current.id if self.current else None
        self._rows, self._now, self._sort = rows, now, sort
        self.rows_changed()
        if keep is not None:
            self.cursor = next((i for i, r in enumerate(rows) if r.id == keep), 0)

    def _widths(self, width: int) -> list[int]:
        fixed = sum(c.width for c in COLUMNS)
        return [c.width or max(width - fixed, 10) for c in COLUMNS]

    def render_header(self, width: int) -> Strip:
        style = self.get_component_rich_style("capture-table--header")
        key, descending = self._sort
        parts = []
        for column, cells in zip(COLUMNS, self._widths(width), strict=True):
            mark = (" ▼" if descending else " ▲") if column.key == key else ""
            parts.append(((column.title + mark).ljust(cells)[:cells], style))
        return text_strip(parts).extend_cell_length(width, style)

    def render_row(self, index: int, width: int) -> Strip:
        row = self._rows[index]
        base = self.rich_style
        if index == self.cursor:
            base = base + self.get_component_rich_style("capture-table--cursor")
        dim = base + self.get_component_rich_style("capture-table--dim", partial=True)
        verdict_class = VERDICT_CLASSES.get(row.verdict)
        verdict_style = (
            base + self.get_component_rich_style(f"capture-table--{verdict_class}", partial=True)
            if verdict_class else dim
        )
        error_style = base + self.get_component_rich_style("capture-table--error", partial=True)
        cells = {
            "id": (row.id, base),
            "step": (row.step, base),
            "created": (relative_time(parse_time(row.created), self._now), dim),
            "verdict": (row.verdict or "—", verdict_style),
            "error": (row.error or row.status, error_style if row.error else dim),
        }
        parts: list[tuple[str, Style]] = []
        for column, size in zip(COLUMNS, self._widths(width), strict=True):
            text, style = cells[column.key]
            parts.append((text[: size - 1].ljust(size), style))
        return text_strip(parts).extend_cell_length(width, base)

    def header_clicked(self, x: int) -> None:
        edge = 0
        for column, cells in zip(COLUMNS, self._widths(self.size.width), strict=True):
            edge += cells
            if x < edge:
                self.post_message(self.SortClicked(column.key))
                return

    def action_activate(self) -> None:
        if self.current is not None:
            self.post_message(self.Opened(self.current.id))
