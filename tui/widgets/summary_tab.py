"""The Summary tab: how the step ran, where, and every verdict of its replays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from replay.bundle import Manifest
from replay.render import human_size

VERDICT_STYLES = {"reproduced": "yellow", "different": "magenta", "passed": "green"}


def facts_table(manifest: Manifest) -> Table:
    step, outcome, env = manifest.step, manifest.outcome, manifest.environment
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("capture", manifest.id),
        ("step", f"{step.name}  ({manifest.kind})"),
        ("status", Text(manifest.status, style="red" if manifest.status == "failed" else "green")),
        ("command", " ".join(step.argv)),
        ("cwd", step.cwd),
        ("created", manifest.created),
        ("duration", f"{outcome.duration_s:.2f} s"),
        ("exit code", str(outcome.exit_code) + (f" (signal {outcome.signal})" if outcome.signal else "")),
        ("peak memory", human_size(outcome.peak_rss_kb * 1024) if outcome.peak_rss_kb else "?"),
        ("host", str(env.host.get("hostname", "?"))),
        ("python", " ".join(filter(None, (env.python.get("implementation"), env.python.get("version"))))),
        ("source", f"{step.source_root}  ({len(step.sources)} files)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def history_table(history: Sequence[dict[str, Any]]) -> Table | Text:
    if not history:
        return Text("never replayed: press r to replay it under the debugger", style="dim")
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for title in ("when", "verdict", "source", "exit", "took"):
        table.add_column(title)
    for entry in reversed(history):
        verdict = str(entry.get("verdict", "?"))
        table.add_row(
            str(entry.get("when", "?")),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            str(entry.get("source", "")),
            str(entry.get("exit_code", "")),
            _seconds(entry.get("duration_s")),
        )
    return table


def _seconds(value: object) -> str:
    return f"{value:.2f} s" if isinstance(value, (int, float)) else "?"


class SummaryTab(VerticalScroll):
    def __init__(self, manifest: Manifest, history: Sequence[dict[str, Any]]) -> None:
        super().__init__()
        self._manifest = manifest
        self._history = history

    def compose(self) -> ComposeResult:
        yield Static(facts_table(self._manifest), classes="section")
        yield Static(Text("verdict history", style="bold underline"), classes="heading")
        yield Static(history_table(self._history), classes="section")
        if self._manifest.notes:
            yield Static(Text("notes", style="bold underline"), classes="heading")
            yield Static("\n".join(self._manifest.notes), classes="section", markup=False)
