"""The Doctor tab: `replay doctor`'s findings, computed in a worker when the tab opens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.widgets import Static

from replay.bundle import Manifest
from tui.insights import Diagnose
from tui.worker_failures import ShowsWorkerFailures

if TYPE_CHECKING:
    from replay.doctor import Finding

SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}


def findings_view(findings: Sequence[Finding]) -> RenderableType:
    if not findings:
        return Text("no known failure pattern recognised in this capture", style="dim")
    blocks: list[RenderableType] = []
    for f in findings:
        block = Text()
        block.append(f"{f.severity.upper():8}", style=SEVERITY_STYLES.get(f.severity, "bold"))
        block.append(f"{f.code}", style="bold")
        block.append(f"  ({f.confidence} confidence)\n", style="dim")
        block.append(f"  {f.message}\n")
        for line in f.evidence:
            block.append(f"  │ {line}\n", style="dim")
        block.append("  fix: ", style="bold green")
        block.append(f"{f.fix}\n")
        blocks.append(block)
    return Group(*blocks)


class DoctorTab(ShowsWorkerFailures, Static):
    def __init__(self, manifest: Manifest, diagnose: Diagnose | None) -> None:
        super().__init__(Text("doctor not available in this installation", style="dim") if diagnose is None
                         else Text("diagnosing…", style="dim"))
        self._manifest = manifest
        self._diagnose = diagnose

    def on_mount(self) -> None:
        if self._diagnose is not None:
            self._run(self._diagnose)

    @work(thread=True, exit_on_error=False)
    def _run(self, diagnose: Diagnose) -> None:
        try:
            shown = findings_view(diagnose(self._manifest))
        except Exception as exc:  # noqa: BLE001 - a failing analysis is shown, not fatal
            shown = Text(f"doctor failed: {exc}", style="red")
        self.app.call_from_thread(self.update, shown)
