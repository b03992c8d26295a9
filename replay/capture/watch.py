"""Watching a running step cheaply: files it opens, output it prints, records it logs.

Everything here runs on the step's success path, so each hook does the least it can
(a dict update, a bounded deque append) and defers every decision (which opened file
is an input, what to redact) to the moment a capture is written.
"""

from __future__ import annotations

import collections
import io
import logging
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

TAIL_CHARS = 64 * 1024
MAX_RECORDS = 500
MAX_PATHS = 50_000

_READ_MODES = frozenset("r")


class FileWatch:
    """Collects paths the process opens, through one audit hook (PEP 578).

    Audit hooks cannot be removed, so the hook checks `active` and the watch is
    reused for the life of the process.
    """

    _instance: FileWatch | None = None

    def __init__(self) -> None:
        self.active = False
        self.reads: dict[str, int] = {}
        self.writes: dict[str, int] = {}

    @classmethod
    def get(cls) -> FileWatch:
        if cls._instance is None:
            cls._instance = cls()
            sys.addaudithook(cls._instance._hook)
        return cls._instance

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not self.active:
            return
        path, mode = args[0], args[1]
        if not isinstance(path, str):
            if isinstance(path, bytes):
                path = path.decode(errors="replace")
            else:
                return  # an open file descriptor
        if isinstance(mode, str):
            writing = "w" in mode or "a" in mode or "+" in mode or "x" in mode
        else:  # os.open: mode is None, flags are args[2]
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = bool(flags & 3)
        target = self.writes if writing else self.reads
        if len(target) < MAX_PATHS or path in target:
            target[path] = target.get(path, 0) + 1

    def start(self) -> None:
        self.reads.clear()
        self.writes.clear()
        self.active = True

    def stop(self) -> None:
        self.active = False


class TailTee(io.TextIOBase):
    """A text stream that writes through to the real one and keeps the last characters.

    Every other attribute (`buffer`, `fileno`, `isatty`, `encoding`) is the real
    stream's, so the step sees its usual stdout and stderr.
    """

    def __init__(self, stream: TextIO, limit: int = TAIL_CHARS) -> None:
        self._stream = stream
        self._limit = limit
        self._chunks: collections.deque[str] = collections.deque()
        self._size = 0

    def write(self, text: str) -> int:
        n = self._stream.write(text)
        if isinstance(text, str) and text:
            self._chunks.append(text)
            self._size += len(text)
            while self._size > self._limit and len(self._chunks) > 1:
                self._size -= len(self._chunks.popleft())
        return n

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def tail(self) -> str:
        return "".join(self._chunks)[-self._limit :]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors


class LogTail:
    """Keeps the last log records by wrapping the record factory.

    Adding a handler to the root logger would silence logging's last-resort handler
    and so change what the step prints; a record factory sees every record that a
    logger emits and changes nothing.
    """

    def __init__(self) -> None:
        self.records: collections.deque[logging.LogRecord] = collections.deque(maxlen=MAX_RECORDS)
        self._previous = logging.getLogRecordFactory()

    def start(self) -> None:
        previous = self._previous
        keep = self.records.append

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            keep(record)
            return record

        logging.setLogRecordFactory(factory)

    def stop(self) -> None:
        logging.setLogRecordFactory(self._previous)

    def as_dicts(self) -> list[dict[str, Any]]:
        out = []
        for r in list(self.records):
            try:
                message = r.getMessage()
            except Exception:
                message = str(r.msg)
            out.append(
                {"time": r.created, "level": r.levelname, "logger": r.name, "message": message[:2000]}
            )
        return out
