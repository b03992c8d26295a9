"""Watching a running step cheaply: files it opens, output it prints, records it logs.

Everything here runs on the step's success path, so each hook does the least it can
(a dict update, a bounded deque append) and defers every decision (which opened file
is an input, what to redact) to the moment a capture is written.
"""

from __future__ import annotations

import io
import sys
from _collections import deque  # what `collections` exports; importing that costs ~2.5 ms

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.machinery import ModuleSpec
    from logging import LogRecord
    from types import ModuleType
    from typing import Any, TextIO

TAIL_CHARS = 64 * 1024
MAX_RECORDS = 500
MAX_PATHS = 50_000



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
        self._chunks: deque[str] = deque()
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
    logger emits and changes nothing. A step that never imports `logging` does not
    pay for it: the factory is wrapped when the step first imports the module.
    """

    def __init__(self) -> None:
        self.records: deque[LogRecord] = deque(maxlen=MAX_RECORDS)
        self._previous: Callable[..., LogRecord] | None = None
        self._waiting: AfterImport | None = None

    def start(self) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            self._wrap(logging)
        else:
            self._waiting = AfterImport("logging", self._wrap)
            sys.meta_path.insert(0, self._waiting)

    def _wrap(self, logging: ModuleType) -> None:
        self._waiting = None
        self._previous = previous = logging.getLogRecordFactory()
        keep = self.records.append

        def factory(*args: Any, **kwargs: Any) -> LogRecord:
            record = previous(*args, **kwargs)
            keep(record)
            return record

        logging.setLogRecordFactory(factory)

    def stop(self) -> None:
        if self._waiting is not None:
            sys.meta_path[:] = [f for f in sys.meta_path if f is not self._waiting]
            self._waiting = None
        if self._previous is not None:
            sys.modules["logging"].setLogRecordFactory(self._previous)
            self._previous = None

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


class AfterImport:
    """A meta-path entry that calls `callback(module)` once someone else has imported
    `name`, so watching a module never imports it. It finds the module with the
    finders after it and wraps the loader for that one import, then steps aside."""

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != self.name:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _CallingLoader(spec.loader, self.callback)
                return spec
        return None


class _CallingLoader:
    """Loads as `inner` does, then hands the module to `callback` and puts `inner`
    back in the module's attributes, so nothing of the wrapper stays visible."""

    def __init__(self, inner: Any, callback: Callable[[ModuleType], None]) -> None:
        self.inner = inner
        self.callback = callback

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.inner
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        try:
            self.callback(module)
        except Exception:  # a watch must never break the step's import
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
