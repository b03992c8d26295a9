"""One capture in tabs, and the actions on it: replay under the debugger (on the
captured source or the user's working copy), write a VS Code configuration, copy the id.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from replay.bundle import Manifest
from tui.context import AppContext
from tui.debug.replay_process import ReplayRequest
from tui.screens.ask_source import AskSourceScreen
from tui.screens.debugger import DebuggerScreen
from tui.widgets.doctor_tab import DoctorTab
from tui.widgets.environment_tab import EnvironmentTab
from tui.widgets.failure_tab import FailureTab
from tui.widgets.inputs_tab import InputsTab
from tui.widgets.logs_tab import LogsTab
from tui.widgets.summary_tab import SummaryTab
from tui.worker_failures import ShowsWorkerFailures


class DetailScreen(ShowsWorkerFailures, Screen[None]):
    CSS_PATH = "detail.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "replay", "Replay"),
        Binding("w", "replay_working_copy", "Replay my copy"),
        Binding("v", "vscode", "VS Code config"),
        Binding("y", "copy_id", "Copy id"),
    ]

    def __init__(self, context: AppContext, manifest: Manifest, history: Sequence[dict[str, Any]],
                 sources: Mapping[str, str]) -> None:
        super().__init__()
        self._app_context = context
        self._manifest = manifest
        self._history = history
        self._sources = sources

    def compose(self) -> ComposeResult:
        m = self._manifest
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Summary", id="summary"):
                yield SummaryTab(m, self._history)
            with TabPane("Failure", id="failure"):
                if m.failure is not None:
                    yield FailureTab(m.failure, self._sources)
                else:
                    yield Static("no failure was recorded: the step passed", classes="section")
            with TabPane("Inputs", id="inputs"):
                yield InputsTab(m)
            with TabPane("Environment", id="environment"):
                yield EnvironmentTab(m, self._app_context.insights.drift)
            with TabPane("Doctor", id="doctor"):
                yield DoctorTab(m, self._app_context.insights.diagnose)
            with TabPane("Logs", id="logs"):
                yield LogsTab(m.logs)
        yield Footer()

    def on_mount(self) -> None:
        m = self._manifest
        self.title = f"capture {m.id}"
        self.sub_title = f"{m.step.name} · {m.status}" + (f" · {m.failure.type}" if m.failure else "")

    def _replay(self, source: Path | None) -> None:
        request = ReplayRequest(self._app_context.store.root, self._manifest.id, source=source)
        self.app.push_screen(DebuggerScreen(request, title=f"capture {self._manifest.id}"))

    def action_replay(self) -> None:
        self._replay(None)

    def action_replay_working_copy(self) -> None:
        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self._replay(folder)

        self.app.push_screen(AskSourceScreen(Path.cwd()), chosen)

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self._manifest.id)
        self.notify(f"copied {self._manifest.id}")

    @work(thread=True, exclusive=True, group="vscode", exit_on_error=False)
    def action_vscode(self) -> None:
        """Run `replay vscode ID`: the command owns the configuration's contents."""
        done = subprocess.run(
            [sys.executable, "-m", "replay", "vscode", self._manifest.id, "--store", str(self._app_context.store.root)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
        said = (done.stdout if done.returncode == 0 else done.stderr).strip() or f"exit {done.returncode}"
        self.app.call_from_thread(
            self.notify, said, title="VS Code", severity="information" if done.returncode == 0 else "error",
        )
