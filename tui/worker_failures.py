"""Saying, in the UI, that a worker failed.

Workers run with `exit_on_error=False` so that one failing read or request never closes
the app. Textual posts a worker's state changes only to the node that started it (the
message does not bubble), so every screen or widget that runs workers mixes this in.
"""

from __future__ import annotations

from typing import ClassVar

from textual.worker import Worker, WorkerState


class ShowsWorkerFailures:
    """Notifies the user when one of this node's workers raises."""

    #: Titles for the notification, by worker group; otherwise "<worker> failed".
    FAILURE_TITLES: ClassVar[dict[str, str]] = {}

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        title = self.FAILURE_TITLES.get(worker.group, f"{worker.name} failed")
        self.notify(str(worker.error), title=title, severity="error")  # type: ignore[attr-defined]
