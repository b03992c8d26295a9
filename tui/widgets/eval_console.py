"""The evaluate console: an expression box with history over a log of results.

Expressions are evaluated by the screen in the selected frame (in a worker: a user
expression can be slow); the console only keeps the history and shows the answers.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, RichLog


class HistoryInput(Input):
    """An input whose ↑/↓ walk back and forth through what was entered before."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
    ]

    def __init__(self, *, placeholder: str, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.history: list[str] = []
        self._position = 0

    def remember(self, entry: str) -> None:
        if entry and (not self.history or self.history[-1] != entry):
            self.history.append(entry)
        self._position = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._position = max(0, min(self._position + step, len(self.history)))
        self.value = self.history[self._position] if self._position < len(self.history) else ""
        self.cursor_position = len(self.value)


class EvalConsole(Vertical):
    class Submitted(Message):
        def __init__(self, expression: str) -> None:
            super().__init__()
            self.expression = expression

    def compose(self) -> ComposeResult:
        yield RichLog(id="console-log", max_lines=2000, wrap=True, markup=False)
        yield HistoryInput(placeholder="evaluate in the selected frame (↑/↓: history)", id="console-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        expression = event.value.strip()
        box = self.query_one(HistoryInput)
        box.remember(expression)
        box.value = ""
        if expression:
            self.query_one(RichLog).write(Text.assemble((">>> ", "bold"), expression))
            self.post_message(self.Submitted(expression))

    def show_result(self, text: str, *, error: bool = False) -> None:
        self.query_one(RichLog).write(Text(text, style="red" if error else ""))
