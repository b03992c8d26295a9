"""The installed platform: where the fakes get their answers and where they write.

There is at most one per process. In `replay` mode the fakes' answers come from the
capture through the boundary player, and the platform only knows the local folders. In
`local` mode (the local batch runner, and tests standing in for the cloud) the answers
come from a `LocalSource`, and the fakes' calls are recorded when a recorder is active.
Metrics and log calls made through the fakes go to the `PlatformLog` in both modes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from replay.errors import ReplayError, ReplaySetupError
from replay.pathmap import longest_first, map_prefix

if TYPE_CHECKING:
    import logging

    from replay.stubs.local import LocalSource

Mode = Literal["local", "replay"]
PLATFORM_LOG = "platform.jsonl"
ENTRY_SCRIPT_LOG = "entry_script.log.txt"
MAX_LOGGED_TEXT = 2000


class PlatformLog:
    """Metrics, tags, uploads and monitoring traces the step sent to the platform.

    Each entry is `{"kind", "name", "value"}` with a JSON value, appended as one line to
    `path` as it happens (the step may die at any line) and kept in `entries`; `sink`,
    when given, sees each entry too (the batch runner aggregates them).
    """

    def __init__(self, path: Path | None, sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.path = path
        self.sink = sink
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, kind: str, name: str, value: object) -> None:
        entry = {"kind": kind, "name": str(name), "value": json.loads(json.dumps(value, default=_plain))}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        with self._lock:
            self.entries.append(entry)
            if self.path is not None:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
        if self.sink is not None:
            self.sink(entry)

    @staticmethod
    def read(path: str | Path) -> list[dict[str, Any]]:
        """The entries a step wrote to `path` (the engine reads them after the step ends);
        a torn last line from a killed step is skipped."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries


def _plain(value: Any) -> object:
    """JSON for what steps log: numpy scalars and arrays, paths; else a bounded repr."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)[:MAX_LOGGED_TEXT]


class Platform:
    """The folders, answer source and log of the installed fakes."""

    def __init__(
        self,
        mode: Mode,
        *,
        log_dir: Path,
        output_dir: Path,
        working_dir: Path,
        local: LocalSource | None,
        path_map: Mapping[str, str],
        sink: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.mode = mode
        self.log_dir = log_dir
        self.output_dir = output_dir
        self.working_dir = working_dir
        self.local = local
        self.path_map = longest_first(path_map.items())
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = PlatformLog(log_dir / PLATFORM_LOG, sink)
        self.runs: dict[str, Any] = {}
        """Fake runs by id (`replay.stubs.run.Run._of`)."""
        self._entry_handler: logging.Handler | None = None

    def source(self) -> LocalSource:
        """The answers of local mode. In replay mode the player answers every recorded
        call before this is reached, so reaching it means nothing was replaying."""
        if self.local is None:
            raise ReplaySetupError("the platform stubs are in replay mode but no capture is being replayed")
        return self.local

    def local_path(self, original: str) -> str:
        """An original path from the capture, mapped to its local place when known."""
        return map_prefix(original, self.path_map) or original

    def entry_script_logger(self) -> logging.Logger:
        """The batch entry script's logger, writing to the log folder (once per install).
        `logging` is imported here, not for every replayed step (6 ms)."""
        import logging

        logger = logging.getLogger("azureml_user.parallel_run.entry_script")
        if self._entry_handler is None:
            handler = logging.FileHandler(self.log_dir / ENTRY_SCRIPT_LOG, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            self._entry_handler = handler
        return logger

    def close(self) -> None:
        if self._entry_handler is not None:
            import logging

            logging.getLogger("azureml_user.parallel_run.entry_script").removeHandler(self._entry_handler)
            self._entry_handler.close()
            self._entry_handler = None


_current: Platform | None = None


def current() -> Platform:
    if _current is None:
        raise ReplayError("the platform stubs are used but not installed (replay.stubs.install)")
    return _current


def where() -> str:
    """How refusals name the situation: 'during replay' or 'in a local run'."""
    return "in a local run" if _current is not None and _current.mode == "local" else "during replay"


def set_current(platform: Platform | None) -> Platform | None:
    """Make `platform` the installed one; returns the one it replaces."""
    global _current
    previous, _current = _current, platform
    return previous
