"""Progress of a transfer: the counts, and a one-line bar for a terminal.

Transfers report through a plain callback taking `TransferStats`, so the CLI can draw a
bar, the TUI can post a message, and tests can count bytes (or interrupt a transfer at
a chosen byte, which is how the resume tests simulate a killed fetch).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

REDRAW_EVERY = 0.1


@dataclass
class TransferStats:
    """Files and bytes to move and moved so far. Sizes a manifest does not record are
    missing from `bytes_total`, so `bytes_done` may pass it."""

    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    bytes_resumed: int = 0
    """Bytes found in partial files from an interrupted transfer, not moved again."""


ProgressCallback = Callable[[TransferStats], None]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class TerminalProgress:
    """Redraws `label  files 12/2000  bytes 3.1/64.0 MiB  41.2 MiB/s` in place on a tty."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.width = 0

    @classmethod
    def for_stderr(cls, label: str) -> TerminalProgress | None:
        """A bar when stderr is a terminal; None (no output at all) when it is a pipe or file."""
        return cls(label) if sys.stderr.isatty() else None

    def __call__(self, stats: TransferStats) -> None:
        now = time.monotonic()
        if now - self.drawn_at < REDRAW_EVERY and stats.files_done < stats.files_total:
            return
        self.drawn_at = now
        rate = stats.bytes_done / max(now - self.started, 1e-6)
        line = (
            f"{self.label}  files {stats.files_done}/{stats.files_total}"
            f"  {_size(stats.bytes_done)}/{_size(stats.bytes_total)}  {_size(rate)}/s"
        )
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def close(self) -> None:
        """End the bar's line so later output starts on a fresh one."""
        if self.width:
            self.stream.write("\n")
            self.stream.flush()
