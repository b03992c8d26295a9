"""The source of the selected frame: line numbers, a breakpoint gutter, the current
line highlighted and a cursor the user moves to set breakpoints.

Drawn line by line, so a 20,000-line module scrolls as fast as a short script. The
screen hands it the file, the current line and the breakpoints; a click in the gutter
reports a toggle, which the screen sends to the debuggee before drawing it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.segment import Segment
from rich.text import Text
from textual.message import Message
from textual.strip import Strip

from tui.widgets.cursor_lines import CursorLines

BREAKPOINT = "●"
CURRENT = "▶"


class SourceView(CursorLines):
    COMPONENT_CLASSES = {
        "source-view--gutter",
        "source-view--breakpoint",
        "source-view--current",
        "source-view--cursor",
    }
    DEFAULT_CSS = """
    SourceView { height: 1fr; }
    SourceView > .source-view--gutter { color: $text-muted; }
    SourceView > .source-view--breakpoint { color: $text-error; text-style: bold; }
    SourceView > .source-view--current { background: $warning 30%; }
    SourceView > .source-view--cursor { background: $accent 25%; }
    """

    class BreakpointToggled(Message):
        def __init__(self, path: str, line: int) -> None:
            super().__init__()
            self.path = path
            self.line = line

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._path: str | None = None
        self._text_lines: Sequence[Text] = ()
        self._current: int | None = None
        self._breakpoints: frozenset[int] = frozenset()
        self._note = ""

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def breakpoints(self) -> frozenset[int]:
        return self._breakpoints

    @property
    def current_line(self) -> int | None:
        """The line the debuggee is stopped on (1-based), if it is in this file."""
        return self._current

    @property
    def cursor_line(self) -> int:
        """The line under the cursor (1-based): where F9 sets a breakpoint."""
        return self.cursor + 1

    @property
    def row_count(self) -> int:
        return len(self._text_lines) or 1

    @property
    def _gutter(self) -> int:
        return len(str(len(self._text_lines))) + 4

    def show(self, path: str | None, lines: Sequence[Text], current: int | None, note: str = "") -> None:
        """Show `lines` of `path` stopped at `current`; `note` replaces an absent source."""
        self._path, self._text_lines, self._current, self._note = path, lines, current, note
        self.rows_changed(max((line.cell_len for line in lines), default=0) + self._gutter)
        if current is not None:
            self.cursor = current - 1
            self.center_on(current - 1)

    def clear_current(self) -> None:
        """The debuggee runs: no line is current, the text stays for setting breakpoints."""
        self._current = None
        self.refresh()

    def set_breakpoints(self, lines: Collection[int]) -> None:
        self._breakpoints = frozenset(lines)
        self.refresh()

    def render_row(self, index: int, width: int) -> Strip:
        if not self._text_lines:
            return Strip([Segment(self._note, self.get_component_rich_style("source-view--gutter"))])
        number = index + 1
        base = self.rich_style
        if number == self._current:
            base = base + self.get_component_rich_style("source-view--current", partial=True)
        elif index == self.cursor and self.has_focus:
            base = base + self.get_component_rich_style("source-view--cursor", partial=True)
        gutter = base + self.get_component_rich_style("source-view--gutter", partial=True)
        mark = base + self.get_component_rich_style("source-view--breakpoint", partial=True)
        digits = self._gutter - 4
        segments = [
            Segment(BREAKPOINT if number in self._breakpoints else " ", mark),
            Segment(f" {number:>{digits}}", gutter),
            Segment(f"{CURRENT if number == self._current else ' '} ", mark),
        ]
        segments += [Segment(s.text, base + s.style if s.style else base)
                     for s in self._text_lines[index].render(self.app.console) if s.text != "\n"]
        return Strip(segments).extend_cell_length(max(width, self.virtual_size.width), base)

    def row_clicked(self, index: int, x: int, chain: int) -> None:
        if x < self._gutter and self._path is not None and self._text_lines:
            self.post_message(self.BreakpointToggled(self._path, index + 1))
