"""Ask which working copy to replay (`replay run --source DIR`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class AskSourceScreen(ModalScreen[Path | None]):
    CSS_PATH = "ask_source.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, suggestion: Path) -> None:
        super().__init__()
        self._folder = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-source"):
            yield Label("Replay with the source in this folder (your working copy):")
            yield Input(str(self._folder), id="source-dir")
            yield Label("", id="source-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        folder = Path(event.value).expanduser()
        if folder.is_dir():
            self.dismiss(folder.resolve())
        else:
            self.query_one("#source-error", Label).update(f"{folder} is not a folder")
