"""A one-line progress bar on stderr, redrawn at most ten times a second.

Shown when stderr is a terminal or when asked (`--progress`); a log file or a CI
console gets no carriage-return noise.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, failed: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / self.total) if self.total else width
        rate = done / max(now - self.started, 1e-6)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(
            f"\r[{bar}] {done}/{self.total} mini-batches, {failed} failed, {rate:.1f}/s "
        )
        self.stream.flush()
        self._drawn = True

    def finish(self, done: int, failed: int) -> None:
        if self.enabled:
            self.update(done, failed, force=True)
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
