"""The batch-inference job: plan, dispatch, retry, count, abort, report.

`run_parallel()` is the one entry point (the CLI and tests call it). The platform's
semantics live in `JobCore` and nowhere else: a try fails when `run()` raises, times
out, returns no result or fewer elements than it was given; a mini-batch gets
`run_max_try` tries; once its last try fails, its failed elements (records for tabular
input, files for file input) are added to the job's count, and the job aborts as soon
as that count *exceeds* `error_threshold` (equal is tolerated; `-1` never aborts).
Executors (local processes, Dask) only move tries and report outcomes.

Every mini-batch that finally fails becomes a plain, JSON-able record, saved as
`logs/sys/failed_mini-batches/mb-NNNNNN/record.json` beside its content (the DataFrame
slice as `mini_batch.parquet`; a file mini-batch names its paths), and handed to
`on_failed_minibatch(record)`: the seam where the capture store publishes it (it
returns the capture's id, shown in the job summary).

    {"index": 12, "kind": "files" | "tabular",
     "files": [paths] | None, "parquet": path | None, "pieces": [byte/row ranges] | None,
     "content_error": None | "why the slice could not be saved",
     "context": {"partition_key_value": {...}, "minibatch_index": 12,
                 "dataset": {"kind", "roots", "partition_format"}},
     "items": 10, "failed_items": 10,
     "tries": [{"type", "message", "traceback", "duration", "worker",
                "failure": the capture's failure section | None}, ...],
     "worker": {"node", "process", "pid", "host"},          # of the last try
     "config": ParallelRunConfig as a dict, "args": [...], "entry_script": path,
     "source_directory": path, "side_inputs": [...], "models": {...},
     "step_name": "...", "job_id": "...", "executor": "local" | "dask", "cwd": path,
     "output_dir": path, "content_dir": path, "record_path": path}

`failure` is the capture agent's description of the exception (frames and their
locals), made in the worker while the failing frames were alive; tries the runner
failed by its own rules (a short result, a timeout) have none.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.parallel.batching import (
    DatasetSubset,
    MiniBatch,
    TabularMiniBatch,
    estimate_records,
    plan,
    read_tabular,
)
from replay.parallel.config import ParallelJob, ParallelRunConfig, resolve_config
from replay.parallel.executors import (
    Executor,
    LocalExecutor,
    Outcome,
    Task,
    WorkerInitError,
)
from replay.parallel.output import (
    AppendRowWriter,
    JobLayout,
    ReportRow,
    write_error_summary,
    write_report,
)
from replay.parallel.progress import Progress
from replay.parallel.worker import WorkerSpec

FailedCallback = Callable[[dict[str, Any]], str | None]
"""Gets each finally-failed mini-batch's record; may return the id of a capture made of it."""


@dataclass
class _BatchState:
    batch: MiniBatch
    result: str = "not_run"
    tries: list[dict[str, Any]] = field(default_factory=list)
    items: int | None = None
    failed_items: int = 0
    duration: float = 0.0
    worker: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobResult:
    """What happened, for the CLI's summary and `--json`."""

    name: str
    status: str  # succeeded | completed_with_failures | aborted | init_failed
    executor: str
    output_dir: Path
    output_file: Path | None
    report: Path
    error_summary: Path
    minibatches: int
    succeeded: int
    failed: int
    not_run: int
    items: int
    failed_items: int
    error_threshold: int
    duration: float
    message: str
    failed_records: list[dict[str, Any]] = field(default_factory=list)
    init_error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "completed_with_failures")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "executor": self.executor,
            "output_dir": str(self.output_dir),
            "output_file": str(self.output_file) if self.output_file else None,
            "report": str(self.report),
            "error_summary": str(self.error_summary),
            "minibatches": self.minibatches,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "not_run": self.not_run,
            "items": self.items,
            "failed_items": self.failed_items,
            "error_threshold": self.error_threshold,
            "duration_seconds": round(self.duration, 3),
            "failed_minibatches": [
                {
                    "index": r["index"],
                    "tries": len(r["tries"]),
                    "failed_items": r["failed_items"],
                    "error": f"{r['tries'][-1]['type']}: {r['tries'][-1]['message']}",
                    "record": r.get("record_path"),
                    "capture": r.get("capture_id"),
                }
                for r in self.failed_records
            ],
            "init_error": self.init_error,
        }


class JobCore:
    """Retry, failure accounting and the error threshold, for any executor."""

    def __init__(
        self,
        job: ParallelJob,
        batches: list[MiniBatch],
        writer: AppendRowWriter | None,
        failed_dir: Path,
        on_failed: FailedCallback | None,
        job_id: str,
    ) -> None:
        self.job = job
        self.job_id = job_id
        self.writer = writer
        self.failed_dir = failed_dir
        self.on_failed = on_failed
        self.pending: deque[Task] = deque(Task(b) for b in batches)
        self.states = {b.index: _BatchState(b) for b in batches}
        self.in_flight = 0
        self.finished_count = 0
        self.items = 0
        self.failed_items = 0
        self.failed_records: list[dict[str, Any]] = []
        self.aborted = False
        self.abort_message = ""
        self.init_error: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.aborted or (not self.pending and self.in_flight == 0)

    def next_task(self) -> Task | None:
        if self.aborted or not self.pending:
            return None
        self.in_flight += 1
        task = self.pending.popleft()
        self.states[task.batch.index].result = "running"
        return task

    def requeue(self, task: Task) -> None:
        """The executor gave back a task it never started: no try is spent."""
        self.in_flight -= 1
        self.pending.appendleft(task)

    def fail_init(self, error: WorkerInitError) -> None:
        self.aborted = True
        self.init_error = error.error
        self.abort_message = f"job failed: {error}"

    def handle(self, task: Task, outcome: Outcome) -> None:
        """Judge one try's outcome: success, retry, or final failure (and maybe abort)."""
        self.in_flight -= 1
        if self.aborted:
            return
        state = self.states[task.batch.index]
        state.duration += float(outcome.get("duration") or 0.0)
        state.worker = dict(outcome.get("worker") or {})
        if outcome["status"] == "ok":
            state.result = "succeeded"
            state.items = int(outcome["items"])
            state.tries.append({"type": None, "duration": outcome["duration"]})
            self.items += state.items
            self.finished_count += 1
            if self.writer is not None:
                self.writer.add(task.batch.index, outcome["text"], outcome["header"])
            return
        error = outcome["error"] or {"type": "Error", "message": "", "traceback": ""}
        state.tries.append({
            "type": error["type"],
            "message": error["message"],
            "traceback": error.get("traceback", ""),
            "duration": float(outcome.get("duration") or 0.0),
            "worker": state.worker,
            "failure": error.get("failure"),
        })
        if task.try_no < self.job.config.run_max_try:
            self.pending.appendleft(Task(task.batch, task.try_no + 1))
            return
        self._final_failure(state, outcome)

    def _final_failure(self, state: _BatchState, outcome: Outcome) -> None:
        batch = state.batch
        state.result = "failed"
        self.finished_count += 1
        content_dir = self.failed_dir / f"mb-{batch.index:06d}"
        content_dir.mkdir(parents=True, exist_ok=True)
        parquet: str | None = None
        content_error: str | None = None
        items = outcome.get("items")
        if isinstance(batch, TabularMiniBatch):
            try:
                frame = read_tabular(batch)
                items = len(frame) if items is None else items
                frame.to_parquet(content_dir / "mini_batch.parquet")
                parquet = str(content_dir / "mini_batch.parquet")
            except Exception as exc:  # noqa: BLE001 - an unreadable slice is still reported
                content_error = f"{type(exc).__name__}: {exc}"
        if items is None:
            items = estimate_records(batch)
        returned = int(outcome.get("returned") or 0)
        state.items = int(items)
        state.failed_items = max(state.items - returned, 0)
        self.items += state.items
        self.failed_items += state.failed_items
        if returned and self.writer is not None:  # a short result: the returned rows succeeded
            self.writer.add(batch.index, outcome["text"], outcome["header"])
        record = self._failed_record(state, parquet, content_error, content_dir)
        self.failed_records.append(record)
        if self.on_failed is not None:
            try:
                capture_id = self.on_failed(record)
                if capture_id:
                    record["capture_id"] = capture_id
            except Exception as exc:  # noqa: BLE001 - capturing must not change the job
                print(f"replay: could not capture mini-batch {batch.index}: {exc}", file=sys.stderr)
        threshold = self.job.config.error_threshold
        if threshold != -1 and self.failed_items > threshold:
            unit = "file(s)" if self.job.kind == "files" else "record(s)"
            self.aborted = True
            self.abort_message = (
                f"job aborted: {self.failed_items} failed {unit} exceed error_threshold {threshold}"
            )

    def _failed_record(
        self, state: _BatchState, parquet: str | None, content_error: str | None, content_dir: Path
    ) -> dict[str, Any]:
        """The plain record of one finally-failed mini-batch, also saved as record.json."""
        batch = state.batch
        job = self.job
        record: dict[str, Any] = {
            "index": batch.index,
            "kind": job.kind,
            "files": list(batch.files) if job.kind == "files" else None,  # type: ignore[union-attr]
            "parquet": parquet,
            "pieces": [
                {"path": p.path, "format": p.fmt, "start": p.start, "stop": p.stop, "header_end": p.header_end}
                for p in batch.pieces  # type: ignore[union-attr]
            ] if isinstance(batch, TabularMiniBatch) else None,
            "content_error": content_error,
            "context": {
                "partition_key_value": {k: _jsonable(v) for k, v in batch.partition},
                "minibatch_index": batch.index,
                "dataset": {"kind": job.kind, "roots": list(job.input_roots),
                            "partition_format": job.config.partition_format},
            },
            "items": state.items,
            "failed_items": state.failed_items,
            "tries": [t for t in state.tries if t["type"] is not None],
            "worker": state.worker,
            "config": job.config.to_dict(),
            "args": list(job.arguments),
            "entry_script": str(job.entry_script),
            "source_directory": str(job.source_directory),
            "side_inputs": list(job.side_inputs),
            "models": dict(job.models),
            "step_name": job.name,
            "job_id": self.job_id,
            "executor": job.config.executor,
            "cwd": os.getcwd(),
            "output_dir": str(job.output),
            "content_dir": str(content_dir),
        }
        path = content_dir / "record.json"
        path.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        record["record_path"] = str(path)
        return record

    def report_rows(self) -> list[ReportRow]:
        rows = []
        for index, st in sorted(self.states.items()):
            result = st.result if st.result != "running" else "not_run"
            rows.append(ReportRow(
                minibatch_index=index, result=result,
                node=str(st.worker.get("node", "")), process=str(st.worker.get("process", "")),
                pid=st.worker.get("pid", ""), tries=len(st.tries), duration_seconds=st.duration,
                items=st.items if st.items is not None else "", failed_items=st.failed_items,
            ))
        return rows


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def make_spec(job: ParallelJob, job_id: str) -> WorkerSpec:
    c = job.config
    return WorkerSpec(
        job_id=job_id,
        script=str(job.entry_script),
        source_dir=str(job.source_directory),
        arguments=job.arguments,
        models=tuple(sorted(job.models.items())),
        output_dir=str(job.output),
        logging_level=c.logging_level,
        output_action=c.output_action,
        header=job.append_row_header,
        dataset=DatasetSubset(job.kind, job.input_roots, c.partition_format),
    )


def make_executor(job: ParallelJob, spec: WorkerSpec) -> Executor:
    c = job.config
    if c.executor == "dask":
        from replay.parallel.dask_executor import DaskExecutor

        return DaskExecutor(spec, str(c.address), job.slots, c.run_invocation_timeout)
    return LocalExecutor(spec, job.slots, c.process_count_per_node, c.run_invocation_timeout)


def run_parallel(
    config: ParallelRunConfig | ParallelJob,
    *,
    on_failed_minibatch: FailedCallback | None = None,
    progress: bool | None = None,
) -> JobResult:
    """Run a batch-inference step locally (or on Dask) with the platform's semantics.

    Raises `UsageError` before any worker starts when the config is invalid. Returns a
    `JobResult`; `status` says whether the job succeeded, completed with tolerated
    failures, aborted over the threshold, or could not `init()`.
    `on_failed_minibatch(record)` is called once per finally-failed mini-batch.
    `progress`: draw a progress bar on stderr (None: only when stderr is a terminal).
    """
    started = time.monotonic()
    job = config if isinstance(config, ParallelJob) else resolve_config(config)
    batches = plan(job)
    layout = JobLayout(job.output)
    if layout.logs.exists():
        shutil.rmtree(layout.logs)  # a fresh job report, as each platform run has its own
    layout.make()
    append = job.config.output_action == "append_row"
    output_file = job.output / job.config.append_row_file_name if append else None
    writer = AppendRowWriter(output_file, job.append_row_header) if output_file else None
    job_id = uuid.uuid4().hex[:12]
    core = JobCore(job, batches, writer, layout.failed, on_failed_minibatch, job_id)
    spec = make_spec(job, job_id)
    executor = make_executor(job, spec)
    bar = Progress(len(batches), progress)
    completed = False
    try:
        if batches:
            executor.start()
        while not core.finished:
            while executor.free() > 0:
                task = core.next_task()
                if task is None:
                    break
                executor.submit(task)
            try:
                finished, requeued = executor.poll(0.2)
            except WorkerInitError as exc:
                core.fail_init(exc)
                break
            for task in requeued:
                core.requeue(task)
            for task, outcome in finished:
                core.handle(task, outcome)
            bar.update(core.finished_count, len(core.failed_records))
        completed = True
    finally:
        executor.close()
        bar.finish(core.finished_count, len(core.failed_records))
        if writer is not None:
            if completed:
                writer.close()
            else:
                writer.abandon()
    return _finish(job, core, layout, output_file, executor.description, time.monotonic() - started)


def _finish(
    job: ParallelJob, core: JobCore, layout: JobLayout, output_file: Path | None,
    executor: str, duration: float,
) -> JobResult:
    rows = core.report_rows()
    write_report(layout.report, rows)
    succeeded = sum(r.result == "succeeded" for r in rows)
    failed = sum(r.result == "failed" for r in rows)
    not_run = sum(r.result == "not_run" for r in rows)
    unit = "files" if job.kind == "files" else "records"
    if core.init_error is not None:
        status = "init_failed"
    elif core.aborted:
        status = "aborted"
    elif failed:
        status = "completed_with_failures"
    else:
        status = "succeeded"
    message = core.abort_message or (
        f"{succeeded} of {len(rows)} mini-batches succeeded; {core.failed_items} failed {unit} "
        f"(error_threshold {job.config.error_threshold})"
    )
    headline = f"{job.name}: {status}: {message}"
    if core.init_error is not None:
        init = core.init_error
        text = f"{headline}\n\n{init.get('traceback') or init.get('message')}\n"
        layout.job_error.write_text(text, encoding="utf-8")
    else:
        write_error_summary(layout.job_error, headline, core.failed_records)
    summary = {
        "step": job.name, "status": status, "message": message, "executor": executor,
        "minibatches": len(rows), "succeeded": succeeded, "failed": failed, "not_run": not_run,
        f"{unit}": core.items, f"failed_{unit}": core.failed_items,
        "error_threshold": job.config.error_threshold, "duration_seconds": round(duration, 3),
    }
    layout.job_result.write_text(
        "".join(f"{k}: {v}\n" for k, v in summary.items()), encoding="utf-8"
    )
    return JobResult(
        name=job.name, status=status, executor=executor, output_dir=job.output,
        output_file=output_file if output_file is not None and output_file.exists() else None,
        report=layout.report, error_summary=layout.job_error, minibatches=len(rows),
        succeeded=succeeded, failed=failed, not_run=not_run, items=core.items,
        failed_items=core.failed_items, error_threshold=job.config.error_threshold,
        duration=duration, message=message, failed_records=core.failed_records,
        init_error=core.init_error,
    )
