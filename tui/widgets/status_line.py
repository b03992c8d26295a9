"""One line that says what the debuggee is doing: attaching, running, stopped and why,
or exited with its code and the replay's verdict."""

from __future__ import annotations

from textual.widgets import Static

from tui.debug.sessions import PHASES, Phase


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; }
    StatusLine.-stopped { background: $warning 40%; }
    StatusLine.-running { background: $success 30%; }
    StatusLine.-exited { background: $primary 40%; }
    StatusLine.-lost { background: $error 50%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.phase: Phase = "waiting"

    def show(self, phase: Phase, text: str) -> None:
        self.phase = phase
        for name in PHASES:
            self.set_class(name == phase, f"-{name}")
        self.update(text)
