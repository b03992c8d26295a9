"""A scrolling list of lines with a cursor, drawn line by line (Textual's Line API).

The capture table (10,000 rows and more) and the source view (files of any length)
both need a cursor that keys and the mouse move, and must cost only the lines on
screen per frame, whatever the length. This base gives them that; a subclass says how
many rows there are and how one row looks.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class CursorLines(ScrollView, can_focus=True):
    """Rows below an optional fixed header; one of them holds the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_by(-1)", "Up", show=False),
        Binding("down", "cursor_by(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "activate", "Open", show=False),
    ]

    HEADER_LINES: ClassVar[int] = 0
    cursor: reactive[int] = reactive(0, always_update=True)

    # -- what a subclass provides ----------------------------------------------------

    @property
    def row_count(self) -> int:
        raise NotImplementedError

    def render_row(self, index: int, width: int) -> Strip:
        """Row `index`, unpadded; `index == self.cursor` for the cursor row."""
        raise NotImplementedError

    def render_header(self, width: int) -> Strip:
        return Strip.blank(width)

    def row_clicked(self, index: int, x: int, chain: int) -> None:
        """A click on a row (the cursor is already on it); `chain` 2 is a double click."""
        if chain >= 2:
            self.action_activate()

    def header_clicked(self, x: int) -> None:
        """A click on the header line."""

    def action_activate(self) -> None:
        """Enter on the cursor row."""

    # -- the machinery -----------------------------------------------------------------

    def rows_changed(self, width: int | None = None) -> None:
        """Call after the rows changed: resizes the scroll area and keeps the cursor in it."""
        self.virtual_size = Size(width or self.size.width, self.row_count + self.HEADER_LINES)
        self.cursor = min(self.cursor, max(self.row_count - 1, 0))
        self.refresh()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self.row_count - 1)) if self.row_count else 0

    def watch_cursor(self, value: int) -> None:
        self._keep_visible(value)

    def action_cursor_by(self, step: int) -> None:
        self.cursor = self.cursor + step

    def action_page(self, direction: int) -> None:
        self.cursor = self.cursor + direction * max(self.size.height - self.HEADER_LINES - 1, 1)

    def action_cursor_to(self, index: int) -> None:
        self.cursor = index if index >= 0 else self.row_count - 1

    def _keep_visible(self, index: int) -> None:
        top = round(self.scroll_y)
        visible = self.size.height - self.HEADER_LINES
        if visible <= 0:
            return
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + visible:
            self.scroll_to(y=index - visible + 1, animate=False, immediate=True)

    def center_on(self, index: int) -> None:
        """Put row `index` in the middle of the view (the current line after a step)."""
        visible = self.size.height - self.HEADER_LINES
        self.scroll_to(y=max(index - visible // 2, 0), animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < self.HEADER_LINES:
            return self.render_header(width).extend_cell_length(width).crop(0, width)
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y - self.HEADER_LINES
        if index >= self.row_count:
            return Strip.blank(width, self.rich_style)
        strip = self.render_row(index, width)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < self.HEADER_LINES:
            self.header_clicked(offset.x)
            return
        index = round(self.scroll_y) + offset.y - self.HEADER_LINES
        if index < self.row_count:
            self.cursor = index
            self.row_clicked(index, offset.x + round(self.scroll_x), event.chain)


def text_strip(parts: list[tuple[str, Style]]) -> Strip:
    """A strip from (text, style) pieces, for subclasses that lay out fixed columns."""
    segments = [Segment(text, style) for text, style in parts if text]
    return Strip(segments)
