"""The Dask executor: tries run in the worker processes of an existing Dask cluster.

One slot per Dask worker process (the first `node_count x process_count_per_node`
workers by name; hosts become nodes). Each try is pinned to its slot's worker and a slot
holds one try at a time, so `init()` state is per process as on the platform: the
worker keeps the loaded entry script in a per-process cache keyed by the job
(`worker.dask_init`). A try over `run_invocation_timeout` is cancelled and its worker
restarted through its nanny (`Client.restart_workers`); the fresh process calls `init()`
again before it gets work. Paths (inputs, source, output) must be visible at the same
place on the workers, as with any Dask job, and `replay` must be importable there.

Timing: the clock starts when the try is submitted, after the worker's `init()`.
"""

from __future__ import annotations

import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from replay.errors import ReplayError, UsageError
from replay.parallel.contract import RunInvocationTimeout
from replay.parallel.executors import (
    Outcome,
    Task,
    WorkerInitError,
    failed_outcome,
    timeout_message,
)
from replay.parallel.worker import Slot, WorkerSpec, dask_execute, dask_forget, dask_init


@dataclass
class _DaskSlot:
    slot: Slot
    name: Any
    address: str
    identity: dict[str, Any] = field(default_factory=dict)
    init: Any = None  # future of dask_init while starting
    task: Task | None = None
    future: Any = None
    since: float = 0.0

    @property
    def ready(self) -> bool:
        return self.init is None


class DaskExecutor:
    """Runs tries on an existing Dask cluster; see the module docstring."""

    def __init__(self, spec: WorkerSpec, address: str, slots: int, timeout: float) -> None:
        self.spec = spec
        self.address = address
        self.slots_wanted = slots
        self.timeout = timeout
        self.client: Any = None
        self.slots: list[_DaskSlot] = []
        self.description = f"dask ({address})"
        self._run = uuid.uuid4().hex[:8]
        self._n = 0

    def _key(self, what: str) -> str:
        self._n += 1
        return f"replay-{what}-{self._run}-{self._n}"

    def _workers(self) -> dict[str, dict[str, Any]]:
        return self.client.scheduler_info(n_workers=-1)["workers"]

    def start(self) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise UsageError("--executor dask needs dask[distributed] installed") from exc
        try:
            self.client = Client(self.address, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot connect to the Dask scheduler at {self.address}: {exc}") from None
        workers = sorted(self._workers().items(), key=lambda kv: str(kv[1].get("name")))
        if not workers:
            raise UsageError(f"the Dask cluster at {self.address} has no workers")
        if len(workers) < self.slots_wanted:
            print(
                f"replay: the Dask cluster has {len(workers)} worker process(es) for "
                f"{self.slots_wanted} slot(s); using {len(workers)}",
                file=sys.stderr,
            )
        hosts: dict[str, int] = {}
        per_host: dict[str, int] = {}
        for i, (address, meta) in enumerate(workers[: self.slots_wanted]):
            host = str(meta.get("host", address))
            node = hosts.setdefault(host, len(hosts))
            proc = per_host[host] = per_host.get(host, -1) + 1
            slot = Slot(i, f"node{node:03d}", f"process{proc:03d}")
            ds = _DaskSlot(slot, meta.get("name"), address)
            ds.identity = {"node": slot.node, "process": slot.process, "pid": "", "host": host,
                           "dask_worker": address}
            self._init(ds)
            self.slots.append(ds)
        self.description = f"dask ({self.address}, {len(self.slots)} worker process(es))"

    def _init(self, ds: _DaskSlot) -> None:
        ds.init = self.client.submit(
            dask_init, self.spec, ds.slot, key=self._key("init"),
            workers=[ds.address], allow_other_workers=False, pure=False,
        )

    def free(self) -> int:
        return sum(1 for ds in self.slots if ds.ready and ds.task is None)

    def submit(self, task: Task) -> None:
        ds = next(ds for ds in self.slots if ds.ready and ds.task is None)
        ds.task = task
        ds.since = time.monotonic()
        ds.future = self.client.submit(
            dask_execute, self.spec, ds.slot, task.batch, task.try_no,
            key=self._key(f"mb{task.batch.index}"), workers=[ds.address],
            allow_other_workers=False, pure=False,
        )

    def poll(self, timeout: float) -> tuple[list[tuple[Task, Outcome]], list[Task]]:
        from distributed import wait as dask_wait

        done: list[tuple[Task, Outcome]] = []
        futures = [f for ds in self.slots for f in (ds.init, ds.future) if f is not None]
        now = time.monotonic()
        deadlines = [ds.since + self.timeout for ds in self.slots if ds.task is not None]
        wait_for = max(0.01, min([timeout, *(d - now for d in deadlines)]))
        if futures:
            try:
                with self.client.as_current():  # ours is not the default client
                    dask_wait(futures, timeout=wait_for, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
        else:
            time.sleep(wait_for)
        for ds in self.slots:
            if ds.init is not None and ds.init.done():
                fut, ds.init = ds.init, None
                if fut.status != "finished":
                    exc = fut.exception()
                    raise WorkerInitError({
                        "type": type(exc).__name__, "message": str(exc),
                        "traceback": "".join(traceback.format_exception(type(exc), exc, fut.traceback())),
                        "worker": ds.identity,
                    })
                ds.identity = {**ds.identity, **fut.result()}
            if ds.future is not None and ds.future.done():
                fut, task = ds.future, ds.task
                ds.future, ds.task = None, None
                assert task is not None
                if fut.status == "finished":
                    done.append((task, fut.result()))
                else:
                    exc = fut.exception() if fut.status == "error" else None
                    done.append((task, failed_outcome(
                        task, type(exc).__name__ if exc else "Cancelled",
                        str(exc) if exc else "the Dask task was cancelled",
                        time.monotonic() - ds.since, ds.identity)))
            elif ds.task is not None and time.monotonic() - ds.since > self.timeout:
                task = ds.task
                done.append((task, failed_outcome(
                    task, RunInvocationTimeout.signature_type, timeout_message(self.timeout),
                    time.monotonic() - ds.since, ds.identity)))
                self._restart(ds)
        return done, []

    def _restart(self, ds: _DaskSlot) -> None:
        fut, ds.future, ds.task = ds.future, None, None
        if fut is not None:
            self.client.cancel([fut], force=True)
        target = ds.name if ds.name is not None else ds.address
        try:
            self.client.restart_workers([target], timeout=60, raise_for_error=True)
        except ValueError as exc:  # no nanny
            raise ReplayError(
                f"a run() call exceeded run_invocation_timeout and its Dask worker cannot be "
                f"restarted: {exc}"
            ) from None
        for address, meta in self._workers().items():
            if meta.get("name") == ds.name:
                ds.address = address
                ds.identity = {**ds.identity, "dask_worker": address}
                break
        self._init(ds)

    def close(self) -> None:
        if self.client is None:
            return
        try:
            pending = [f for ds in self.slots for f in (ds.init, ds.future) if f is not None]
            if pending:
                self.client.cancel(pending, force=True)
            self.client.run(dask_forget, self.spec.key, workers=[ds.address for ds in self.slots])
        except Exception:  # noqa: BLE001 - best effort: the cluster is not ours to fix
            pass
        self.client.close()
        self.client = None
        self.slots = []
