"""The Failure tab: the exception, its traceback with the captured source around each
line, the failure site marked, and the selected frame's locals as a tree."""

from __future__ import annotations

from collections.abc import Mapping

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import OptionList, Static, Tree
from textual.widgets.option_list import Option

from replay.bundle import Failure, Frame
from tui.format import first_line

CONTEXT_LINES = 5


def exception_text(failure: Failure) -> Text:
    text = Text()
    for cause in failure.causes:
        text.append(f"{cause.type}: {first_line(cause.message)}\n", style="dim")
        text.append("  ↓ " + ("which directly caused" if cause.relation == "cause" else "then, while handling it")
                    + "\n", style="dim")
    text.append(f"{failure.type}: ", style="bold red")
    text.append(failure.message)
    return text


def frame_label(frame: Frame, is_site: bool) -> Text:
    text = Text("▶ " if is_site else "  ", style="bold red")
    text.append(f"{frame.function}", style="bold" if frame.user else "dim")
    text.append(f"  {frame.file}:{frame.line}", style="" if frame.user else "dim")
    return text


def source_context(frame: Frame, source: str | None) -> Syntax | Text:
    """The lines around the frame's line in the captured source, the line highlighted."""
    if source is None:
        return Text(frame.code or "(no source captured for this frame)", style="dim" if not frame.code else "")
    start = max(frame.line - CONTEXT_LINES, 1)
    return Syntax(source, "python", line_numbers=True, line_range=(start, frame.line + CONTEXT_LINES),
                  highlight_lines={frame.line}, theme="ansi_dark", word_wrap=False)


class FailureTab(Vertical):
    """Frames on the left; the selected frame's source and locals on the right."""

    def __init__(self, failure: Failure, sources: Mapping[str, str]) -> None:
        super().__init__()
        self._failure = failure
        self._sources = sources

    def compose(self) -> ComposeResult:
        failure = self._failure
        yield Static(exception_text(failure), id="exception", markup=False)
        with Horizontal():
            yield OptionList(
                *(Option(frame_label(f, i == failure.site), id=str(i)) for i, f in enumerate(failure.frames)),
                id="frames",
            )
            with Vertical(id="frame-detail"):
                with VerticalScroll(id="context-scroll"):
                    yield Static(id="context")
                locals_tree: Tree[None] = Tree("locals", id="frame-locals")
                locals_tree.show_root = False
                yield locals_tree

    def on_mount(self) -> None:
        frames = self.query_one("#frames", OptionList)
        if self._failure.frames:
            frames.highlighted = self._failure.site if self._failure.site is not None else len(self._failure.frames) - 1

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._show_frame(self._failure.frames[event.option_index])

    def _show_frame(self, frame: Frame) -> None:
        self.query_one("#context", Static).update(source_context(frame, self._sources.get(frame.file)))
        tree = self.query_one("#frame-locals", Tree)
        tree.clear()
        if not frame.locals:
            tree.root.add_leaf(Text("(no locals captured)", style="dim"))
        for name, value in frame.locals.items():
            label = Text.assemble((name, "bold"), " = ", first_line(value, 120))
            lines = value.splitlines()
            if len(lines) > 1:
                node = tree.root.add(label)
                for line in lines:
                    node.add_leaf(Text(line))
            else:
                tree.root.add_leaf(label)
        tree.root.expand()
