"""Executors: where tries run. Local processes here; a Dask cluster in `dask_executor`.

An executor only moves work and enforces `run_invocation_timeout` by the means its
processes allow (a local worker is killed; a Dask worker is restarted through its
nanny); in both cases a new process takes the slot and calls `init()` again. What a
try's outcome *means* (retry, count, abort) is decided in one place, `runner.JobCore`,
so the two executors cannot drift apart.

Interface (duck-typed, see `Executor`): `start()`, `free()` slots, `submit(task)`,
`poll(timeout) -> (finished [(task, outcome)], requeued [task])`, `close()`.
A task the executor had accepted but never started (queued behind a hung one) comes
back as *requeued*: it costs no try.

Timing: a try's clock starts when the worker can start it (sent to an idle worker, or
its predecessor finished) and covers reading the mini-batch plus `run()`.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from replay.errors import ReplayError
from replay.parallel.batching import MiniBatch
from replay.parallel.contract import WORKER_DIED, RunInvocationTimeout
from replay.parallel.output import JobLayout
from replay.parallel.worker import Slot, WorkerSpec


@dataclass
class Task:
    """One try of one mini-batch (`try_no` counts from 1)."""

    batch: MiniBatch
    try_no: int = 1


Outcome = dict[str, Any]


class WorkerInitError(ReplayError):
    """A worker's `init()` (or the import of the entry script) failed: the job cannot run."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        worker = error.get("worker") or {}
        where = f"{worker.get('node', '?')}/{worker.get('process', '?')}"
        super().__init__(f"init() failed on {where}: {error.get('type')}: {error.get('message')}")


class Executor(Protocol):
    description: str

    def start(self) -> None: ...
    def free(self) -> int: ...
    def submit(self, task: Task) -> None: ...
    def poll(self, timeout: float) -> tuple[list[tuple[Task, Outcome]], list[Task]]: ...
    def close(self) -> None: ...


def failed_outcome(task: Task, kind: str, message: str, duration: float, worker: dict[str, Any]) -> Outcome:
    """An outcome for a try that ended outside the script (timeout, dead worker)."""
    return {
        "index": task.batch.index, "try": task.try_no, "status": "failed", "items": None,
        "returned": 0, "text": "", "header": None, "duration": duration, "worker": worker,
        "error": {"type": kind, "message": message, "traceback": ""},
    }


def timeout_message(timeout: float) -> str:
    return (
        f"run() did not return within run_invocation_timeout={timeout:g}s; "
        "the worker process was killed and replaced"
    )


# --------------------------------------------------------------------------- local


@dataclass
class _Proc:
    slot: Slot
    process: subprocess.Popen[bytes]
    conn: Connection
    ready: bool = False
    identity: dict[str, Any] = field(default_factory=dict)
    queue: deque[Task] = field(default_factory=deque)
    head_since: float = 0.0
    broken: bool = False  # a send failed: dead, about to be replaced
    outbox: list[Task] = field(default_factory=list)  # accepted, sent at the next poll()

    def usable(self) -> bool:
        return self.ready and not self.broken

    def alive(self) -> bool:
        return self.process.poll() is None


_REPLAY_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = "import sys; from replay.parallel.worker import child_main; child_main(int(sys.argv[1]))"


class LocalExecutor:
    """`node_count x process_count_per_node` local worker processes, each a fresh interpreter.

    Workers are started like `multiprocessing`'s spawn method (a new interpreter that
    imports only what it needs), but directly with `subprocess` and a socket pair
    carrying `multiprocessing.connection` messages. Unlike spawn, this never re-imports
    the caller's `__main__` in the workers, so `run_parallel()` works from a notebook,
    from stdin, or from a script without an `if __name__ == "__main__"` guard.
    Each worker runs in its own session, so a timeout kill also reaches the processes
    `run()` started.

    Each worker holds a short queue of tasks so it never waits for the parent between
    mini-batches (only the head of its queue is running; the rest come back unstarted
    if it is killed). The queue holds about `QUEUED_SECONDS` of work, from 2 tasks for
    slow mini-batches up to `MAX_DEPTH` for tiny ones, so a job's tail is not stuck
    behind one busy worker; tasks accepted between polls go out in one message.
    """

    QUEUED_SECONDS = 0.05
    MAX_DEPTH = 16

    def __init__(self, spec: WorkerSpec, slots: int, per_node: int, timeout: float) -> None:
        self.spec = spec
        self.slots = slots
        self.per_node = per_node
        self.timeout = timeout
        self.depth = 2
        self._mean_seconds: float | None = None
        self.procs: list[_Proc] = []
        self._unsent: list[Task] = []
        self._selector = selectors.DefaultSelector()
        self.description = f"local ({slots} process{'es' if slots != 1 else ''})"

    def start(self) -> None:
        self.procs = [self._spawn(Slot.of(i, self.per_node)) for i in range(self.slots)]

    def _spawn(self, slot: Slot) -> _Proc:
        parent_sock, child_sock = socket.socketpair()
        log_path = JobLayout(Path(self.spec.output_dir)).stdout_file(slot.node, slot.process)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_REPLAY_ROOT, env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(child_sock.fileno())],
                pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        child_sock.close()
        conn = Connection(parent_sock.detach())
        conn.send((self.spec, slot))
        proc = _Proc(slot, process, conn,
                     identity={"node": slot.node, "process": slot.process, "pid": process.pid})
        self._selector.register(conn.fileno(), selectors.EVENT_READ, proc)
        return proc

    def free(self) -> int:
        return sum(max(0, self.depth - len(p.queue) - len(p.outbox)) for p in self.procs if p.usable())

    def submit(self, task: Task) -> None:
        ready = [p for p in self.procs if p.usable() and len(p.queue) + len(p.outbox) < self.depth]
        if not ready:
            raise RuntimeError("submit() without a free slot")
        min(ready, key=lambda p: len(p.queue) + len(p.outbox)).outbox.append(task)

    def _flush(self) -> None:
        for proc in self.procs:
            if not proc.outbox:
                continue
            tasks, proc.outbox = proc.outbox, []
            try:
                proc.conn.send([(t.batch, t.try_no) for t in tasks])
            except OSError:  # the worker just died; this poll() replaces it
                self._unsent.extend(tasks)
                proc.broken = True
                continue
            if not proc.queue:
                proc.head_since = time.monotonic()
            proc.queue.extend(tasks)

    def _learn(self, seconds: float) -> None:
        """Track the mean try duration and size the per-worker queue from it."""
        m = self._mean_seconds
        self._mean_seconds = seconds if m is None else 0.9 * m + 0.1 * seconds
        self.depth = max(2, min(self.MAX_DEPTH, int(self.QUEUED_SECONDS / max(self._mean_seconds, 1e-6))))

    def _replace(self, proc: _Proc) -> None:
        self._kill(proc)
        self.procs[self.procs.index(proc)] = self._spawn(proc.slot)

    def _kill(self, proc: _Proc) -> None:
        self._forget(proc)
        try:
            os.killpg(proc.process.pid, signal.SIGKILL)
        except OSError:
            if proc.alive():
                proc.process.kill()
        try:
            proc.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        proc.conn.close()

    def _forget(self, proc: _Proc) -> None:
        if not proc.conn.closed:
            try:
                self._selector.unregister(proc.conn.fileno())
            except (KeyError, ValueError):
                pass

    def _receive(self, events: list[Any], done: list[tuple[Task, Outcome]]) -> set[int]:
        """Read every message that is waiting, one per ready worker per round; return the
        ids of workers whose socket reached EOF (they died)."""
        dead: set[int] = set()
        while events:
            for key, _ in events:
                proc = key.data
                try:
                    kind, payload = proc.conn.recv()
                except (EOFError, OSError):
                    dead.add(id(proc))
                    self._forget(proc)
                    continue
                if kind == "done":
                    done.append((proc.queue.popleft(), payload))
                    proc.head_since = time.monotonic()
                    self._learn(payload["duration"])
                elif kind == "ready":
                    proc.ready, proc.identity = True, payload
                else:  # "init_failed"
                    raise WorkerInitError(payload)
            events = self._selector.select(0)
        return dead

    def poll(self, timeout: float) -> tuple[list[tuple[Task, Outcome]], list[Task]]:
        self._flush()
        done: list[tuple[Task, Outcome]] = []
        requeued, self._unsent = self._unsent, []
        now = time.monotonic()
        deadlines = [p.head_since + self.timeout for p in self.procs if p.queue]
        wait_for = max(0.0, min([timeout, *(d - now for d in deadlines)]))
        dead_ids = self._receive(self._selector.select(wait_for), done)
        for proc in list(self.procs):
            dead = id(proc) in dead_ids
            if dead:
                try:
                    proc.process.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                if not proc.ready:
                    raise WorkerInitError(
                        {"type": WORKER_DIED, "message": f"worker exited with code "
                         f"{proc.process.returncode} before init() finished; see "
                         f"{JobLayout(Path(self.spec.output_dir)).stdout_file(proc.slot.node, proc.slot.process)}",
                         "traceback": "", "worker": proc.identity}
                    )
                if proc.queue:
                    head = proc.queue.popleft()
                    elapsed = time.monotonic() - proc.head_since
                    done.append((head, failed_outcome(
                        head, WORKER_DIED,
                        f"the worker process exited with code {proc.process.returncode} during run()",
                        elapsed, proc.identity)))
                    requeued.extend(proc.queue)
                requeued.extend(proc.outbox)
                self._replace(proc)
                continue
            if proc.queue and time.monotonic() - proc.head_since > self.timeout:
                head = proc.queue.popleft()
                done.append((head, failed_outcome(
                    head, RunInvocationTimeout.signature_type, timeout_message(self.timeout),
                    time.monotonic() - proc.head_since, proc.identity)))
                requeued.extend(proc.queue)
                requeued.extend(proc.outbox)
                self._replace(proc)
        return done, requeued

    def close(self) -> None:
        """Idle workers finish cleanly; busy or still-starting ones (an aborted job) are killed."""
        for proc in self.procs:
            if proc.queue or proc.outbox or not proc.ready:
                self._kill(proc)
                continue
            try:
                proc.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 5
        for proc in self.procs:
            if proc.conn.closed:
                continue
            try:
                proc.process.wait(max(0.01, deadline - time.monotonic()))
                self._forget(proc)
                proc.conn.close()
            except subprocess.TimeoutExpired:
                self._kill(proc)
        self.procs = []
        self._selector.close()
