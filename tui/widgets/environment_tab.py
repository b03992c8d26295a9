"""The Environment tab: the captured variables (redactions marked), the interpreter,
and drift between the captured lockfile and the interpreter running the TUI.

Drift means reading this interpreter's installed distributions (tenths of a second), so
it is computed in a worker after the tab shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from replay.bundle import Manifest
from tui.format import first_line
from tui.insights import DriftOf
from tui.worker_failures import ShowsWorkerFailures

if TYPE_CHECKING:
    from replay.envdiff import Drift

DRIFT_STYLES = {"python": "bold red", "platform": "red", "missing": "red", "version": "yellow", "source": "yellow"}


def variables_table(manifest: Manifest) -> Table:
    env = manifest.environment
    redacted = set(env.redacted)
    table = Table(box=None, padding=(0, 2), header_style="bold", show_edge=False)
    table.add_column("variable", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in sorted(env.variables.keys() | redacted):
        if name in redacted:
            table.add_row(Text(name, style="yellow"), Text("‹redacted: pass --env to replay›", style="yellow"))
        else:
            table.add_row(name, first_line(env.variables[name], 160))
    return table


def drift_table(drifts: Sequence[Drift]) -> RenderableType:
    """Mismatches coloured by kind; packages only installed here are just counted."""
    shown = [d for d in drifts if d.kind != "extra"]
    extra = len(drifts) - len(shown)
    if not shown:
        said = "no drift: this interpreter has everything the capture had, at the same versions"
        return Text(said + (f" (and {extra} packages more)" if extra else ""), style="green")
    table = Table(box=None, padding=(0, 2), header_style="bold", show_edge=False)
    for title in ("", "package", "captured", "here", "kind"):
        table.add_column(title)
    for d in shown:
        style = DRIFT_STYLES.get(d.kind, "")
        table.add_row(
            Text("in traceback", style="bold red") if d.in_traceback else "",
            Text(d.name, style=style),
            d.captured or "—",
            Text(d.current or "—", style=style),
            d.kind,
        )
    if not extra:
        return table
    return Group(table, Text(f"and {extra} packages installed here that the capture did not have", style="dim"))


class EnvironmentTab(ShowsWorkerFailures, VerticalScroll):
    def __init__(self, manifest: Manifest, drift: DriftOf | None) -> None:
        super().__init__()
        self._manifest = manifest
        self._drift = drift

    def compose(self) -> ComposeResult:
        env = self._manifest.environment
        python = " ".join(str(v) for v in env.python.values() if v)
        yield Static(Text.assemble(("python ", "bold"), python or "?"), classes="section")
        yield Static(Text("lockfile drift (captured → this interpreter)", style="bold underline"), classes="heading")
        if self._drift is None:
            yield Static(Text(f"env diff not available; the capture lists {len(env.distributions)} distributions",
                              style="dim"), id="drift", classes="section")
        else:
            yield Static(Text("comparing…", style="dim"), id="drift", classes="section")
        yield Static(Text(f"variables ({len(env.variables)}, {len(env.redacted)} redacted)",
                          style="bold underline"), classes="heading")
        yield Static(variables_table(self._manifest), classes="section")

    def on_mount(self) -> None:
        if self._drift is not None:
            self._compare(self._drift)

    @work(thread=True, exit_on_error=False)
    def _compare(self, drift: DriftOf) -> None:
        try:
            shown = drift_table(drift(self._manifest))
        except Exception as exc:  # noqa: BLE001 - any failure of the analysis is shown, not fatal
            shown = Text(f"env diff failed: {exc}", style="red")
        self.app.call_from_thread(self.query_one("#drift", Static).update, shown)
