"""The Logs tab: the step's captured stdout, stderr and logging records, searchable.

Typing in the search box narrows the lines to those containing every word typed, the
way a user greps a driver log for the one line that matters.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Log, Static

from replay.bundle import Logs


def log_lines(logs: Logs) -> list[str]:
    lines: list[str] = []
    for title, text in (("stdout", logs.stdout), ("stderr", logs.stderr)):
        if text:
            lines.append(f"── {title} ──")
            lines.extend(text.splitlines())
    if logs.records:
        lines.append("── logging records ──")
        lines.extend(f"{r.level:8} {r.logger}: {r.message}" for r in logs.records)
    return lines


def matching(lines: list[str], query: str) -> list[str]:
    words = query.lower().split()
    return [line for line in lines if all(w in line.lower() for w in words)] if words else lines


class LogsTab(Vertical):
    def __init__(self, logs: Logs) -> None:
        super().__init__()
        self._all_lines = log_lines(logs)

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the captured output", id="log-search")
        yield Static(id="log-count")
        yield Log(id="log-lines", auto_scroll=False)

    def on_mount(self) -> None:
        self._show("")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show(event.value)

    def _show(self, query: str) -> None:
        shown = matching(self._all_lines, query)
        self.query_one("#log-count", Static).update(
            f"{len(shown)} of {len(self._all_lines)} lines" if query.strip() else f"{len(self._all_lines)} lines"
        )
        log = self.query_one("#log-lines", Log)
        log.clear()
        log.write_lines(shown)
