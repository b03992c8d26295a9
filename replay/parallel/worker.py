"""Inside a worker process: load the entry script once, then run mini-batches.

Both executors run this code in their worker processes (local worker
processes, or Dask worker processes), so a script sees the same `sys.path`,
`sys.argv`, platform stand-ins and `init()`/`run()` calls under either. Each try's
outcome comes back as a small plain dict (status, counts, error, formatted output
text): no user object crosses a process boundary, so unpicklable results cannot break
the job.

This module imports only the standard library and replay's light modules; pandas is
loaded by the script or by the tabular reader, never for a file dataset.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from replay.parallel.batching import DatasetSubset, MiniBatch, read_minibatch
from replay.parallel.contract import (
    RUNNER_ENV,
    JudgedFailure,
    MiniBatchContext,
    ShortResult,
    accepts_context,
    call_run,
    check_complete,
    count_result,
)
from replay.parallel.output import JobLayout, format_append_rows
from replay.parallel.platform import install_platform


@dataclass(frozen=True)
class Slot:
    """Which worker this is, as the platform names it: node and process."""

    index: int
    node: str
    process: str

    @classmethod
    def of(cls, index: int, per_node: int) -> Slot:
        return cls(index, f"node{index // per_node:03d}", f"process{index % per_node:03d}")


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to load the entry script; small and picklable."""

    job_id: str
    script: str
    source_dir: str
    arguments: tuple[str, ...]
    models: tuple[tuple[str, str], ...]
    output_dir: str
    logging_level: str
    output_action: str
    header: bool
    dataset: DatasetSubset

    @property
    def key(self) -> str:
        """Identifies one job's entry script in a long-lived worker process's cache."""
        blob = json.dumps([self.job_id, self.script, self.source_dir, list(self.arguments)])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class EntryPoints(NamedTuple):
    """An imported entry script and its two functions."""

    module: ModuleType
    init: Callable[[], Any]
    run: Callable[..., Any]


@dataclass
class LoadedEntry:
    module: ModuleType
    run: Any
    with_context: bool
    slot: Slot
    spec: WorkerSpec
    identity: dict[str, Any]


def worker_identity(slot: Slot) -> dict[str, Any]:
    return {"node": slot.node, "process": slot.process, "pid": os.getpid(), "host": socket.gethostname()}


class _JsonlMetrics:
    """What the script logs to its run, appended as JSON Lines to one file per worker process."""

    def __init__(self, path: Path, slot: Slot) -> None:
        self.path = path
        self.slot = slot
        self._lock = threading.Lock()

    def __call__(self, entry: dict[str, Any]) -> None:
        line = json.dumps(
            {**entry, "node": self.slot.node, "process": self.slot.process,
             "pid": os.getpid(), "time": time.time()},
            default=str,
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")


def import_entry_script(script: str, source_dir: str, arguments: Sequence[str], alias: str) -> EntryPoints:
    """Put the source folder on sys.path, set sys.argv and import the script.

    The script is imported under its own module name, as the platform does, so
    `__name__` checks and relative file lookups (`os.path.dirname(__file__)`) behave
    as they do remotely; `alias` names it when another module already has that name.
    Workers and the replay of a captured mini-batch both load scripts through here.
    """
    if source_dir not in sys.path:
        sys.path.insert(0, source_dir)
    sys.argv = [script, *arguments]
    name = Path(script).stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) != script:
        name = alias
    module_spec = importlib.util.spec_from_file_location(name, script)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    init = getattr(module, "init", None)
    run = getattr(module, "run", None)
    if not callable(init) or not callable(run):
        raise TypeError(f"{script} must define callable init() and run(mini_batch)")
    return EntryPoints(module, init, run)


def load_entry(spec: WorkerSpec, slot: Slot) -> LoadedEntry:
    """Install the platform for this worker, import the script, call init() once."""
    layout = JobLayout(Path(spec.output_dir))
    level = getattr(logging, spec.logging_level, logging.INFO)
    logging.getLogger().setLevel(level)
    os.environ[RUNNER_ENV] = "1"  # a capture_failures() wrapper leaves capturing to the runner
    install_platform(
        dict(spec.models),
        layout.user_log_dir(slot.node, slot.process),
        Path(spec.output_dir),
        Path(tempfile.gettempdir()) / "replay-parallel-working" / str(os.getpid()),
        level,
        _JsonlMetrics(layout.metrics_file(slot.node, slot.process), slot),
    )
    entry = import_entry_script(spec.script, spec.source_dir, spec.arguments, f"replay_entry_{spec.key}")
    entry.init()
    return LoadedEntry(entry.module, entry.run, accepts_context(entry.run), slot, spec, worker_identity(slot))


def try_error(exc: BaseException) -> dict[str, Any]:
    """A try's error: its type, message and traceback for the reports, and the failure
    section of a capture, described here while the failing frames are still alive."""
    if isinstance(exc, JudgedFailure):
        return {"type": exc.signature_type, "message": str(exc), "traceback": "", "failure": None}
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        "failure": _describe(exc),
    }


def _describe(exc: BaseException) -> dict[str, Any] | None:
    """The capture agent's description of `exc` (frames, locals, redacted); None when it
    cannot be made, which costs the capture its frames but never changes the try."""
    try:
        from replay.capture.failure import describe_failure, trim_traceback
        from replay.redact import Redactor

        redactor = Redactor(os.environ)
        return describe_failure(exc, trim_traceback(exc.__traceback__), redactor.redact_text,
                                redactor.redact_value, os.getcwd())
    except Exception:  # noqa: BLE001 - a description is a bonus, the outcome is not
        return None


def execute(entry: LoadedEntry, batch: MiniBatch, try_no: int) -> dict[str, Any]:
    """One try of one mini-batch; never raises for the script's errors.

    Returns {index, try, status ("ok" | "failed"), items, returned, text, header,
    error {type, message, traceback, failure} | None, duration, worker}.
    """
    spec = entry.spec
    sys.argv = [spec.script, *spec.arguments]
    outcome: dict[str, Any] = {
        "index": batch.index, "try": try_no, "status": "failed", "items": None,
        "returned": 0, "text": "", "header": None, "error": None, "duration": 0.0,
        "worker": entry.identity,
    }
    started = time.perf_counter()
    try:
        mini_batch = read_minibatch(batch)
    except Exception as exc:  # noqa: BLE001 - a bad input slice fails this try, not the job
        outcome["error"] = try_error(exc)
        outcome["duration"] = time.perf_counter() - started
        return outcome
    items = len(mini_batch)
    outcome["items"] = items
    context = MiniBatchContext(
        partition_key_value=dict(batch.partition),
        dataset=spec.dataset.with_partition(batch.partition) if batch.partition else spec.dataset,
        minibatch_index=batch.index,
    )
    started = time.perf_counter()
    try:
        result = call_run(entry.run, entry.with_context, mini_batch, context)
        returned = count_result(result)
    except Exception as exc:  # noqa: BLE001 - the script's failure is the try's outcome
        outcome["error"] = try_error(exc)
        outcome["duration"] = time.perf_counter() - started
        return outcome
    outcome["duration"] = time.perf_counter() - started
    outcome["returned"] = returned
    if spec.output_action == "append_row":
        try:
            outcome["text"], outcome["header"] = format_append_rows(result, spec.header)
        except Exception as exc:  # noqa: BLE001
            outcome["error"] = try_error(exc)
            outcome["returned"] = 0
            return outcome
    try:
        check_complete(returned, items)
    except ShortResult as exc:
        outcome["error"] = try_error(exc)
        return outcome
    outcome["status"] = "ok"
    return outcome


# --------------------------------------------------------------------------- local


def local_worker_main(conn: Any) -> None:
    """A local worker process: receive (spec, slot), init once, then serve mini-batches.

    Messages up: ("ready", identity), ("init_failed", error), ("done", outcome) per try.
    Down: a list of (batch, try_no); None means finish. The parent started this process
    with stdout/stderr already pointing at its log file and in its own process group.
    """
    spec, slot = conn.recv()
    try:
        entry = load_entry(spec, slot)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which aborts the job
        conn.send(("init_failed", {**try_error(exc), "worker": worker_identity(slot)}))
        return
    conn.send(("ready", worker_identity(slot)))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        for batch, try_no in message:
            conn.send(("done", execute(entry, batch, try_no)))


def _exit_with_parent() -> None:
    """If the runner dies (killed, crashed), take this worker's process group down too.

    A worker stuck in a hung run() never reads the closed socket; without this it and
    whatever run() started would linger after the runner is gone.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                try:
                    if os.getpgid(0) == os.getpid():  # only a group this worker leads
                        os.killpg(os.getpid(), 9)
                finally:
                    os._exit(1)

    threading.Thread(target=watch, name="replay-parent-watch", daemon=True).start()


def child_main(fd: int) -> None:
    """`python -c "...; child_main(FD)"`: wrap the inherited socket and serve."""
    from multiprocessing.connection import Connection

    _exit_with_parent()
    os.set_inheritable(fd, False)  # processes run() starts must not hold the parent's socket
    conn = Connection(fd)
    try:
        local_worker_main(conn)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        conn.close()


# --------------------------------------------------------------------------- dask

_ENTRIES: dict[str, LoadedEntry] = {}


def dask_init(spec: WorkerSpec, slot: Slot) -> dict[str, Any]:
    """Run in a Dask worker process: load the script and call init() once per process."""
    entry = _ENTRIES.get(spec.key)
    if entry is None:
        entry = load_entry(spec, slot)
        _ENTRIES[spec.key] = entry
    return entry.identity


def dask_execute(spec: WorkerSpec, slot: Slot, batch: MiniBatch, try_no: int) -> dict[str, Any]:
    """Run in a Dask worker process: one try, with the process's cached entry script."""
    entry = _ENTRIES.get(spec.key)
    if entry is None:
        entry = load_entry(spec, slot)
        _ENTRIES[spec.key] = entry
    return execute(entry, batch, try_no)


def dask_forget(key: str) -> None:
    """Drop a finished job's entry script from a Dask worker's cache."""
    _ENTRIES.pop(key, None)
