"""Program output gathered from background threads and drained by the UI in batches.

debugpy sends stdout in fragments, often one `output` event per `print`; a message per
fragment would flood the UI's queue on a chatty step. Writers append here and post a
wake-up only when the buffer was empty, so at most one wake-up is pending however fast
output arrives, and the UI writes everything gathered since in one go.
"""

from __future__ import annotations

import threading

MAX_PENDING = 1 << 20
"""Characters kept between drains; older output is dropped (the pane keeps a tail anyway)."""


class OutputBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[str] = []
        self._size = 0

    def add(self, text: str) -> bool:
        """Append `text`; True when the buffer was empty (the caller should wake the UI)."""
        with self._lock:
            was_empty = not self._chunks
            self._chunks.append(text)
            self._size += len(text)
            while self._size > MAX_PENDING and len(self._chunks) > 1:
                self._size -= len(self._chunks.pop(0))
            return was_empty

    def drain(self) -> str:
        with self._lock:
            text = "".join(self._chunks)
            self._chunks.clear()
            self._size = 0
            return text
