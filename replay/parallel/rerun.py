"""A job's captured failing mini-batches, found together and re-run against fixed code.

Every capture of a mini-batch names its job run (`job_id`, shared by all mini-batches
of one `replay parallel run` or one platform job) and its step name. That grouping
serves two commands:

- `replay parallel rerun --failed [--job NAME] [--source DIR]`, the batch step's
  fix-verify loop: every captured mini-batch of the job (the latest run by default) is
  replayed, on the working copy with `--source`, and the table says which pass now;
- `replay run ID --mini-batch K`: mini-batch K of the job run that capture ID belongs to.

When a job has several captures of one mini-batch's content (the wrapper on the
platform captures each failing try), the newest stands for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replay.engine.runner import RunOptions, default_workdir, replay_step
from replay.errors import CaptureNotFound, ReplayError, UsageError
from replay.parallel.section import MiniBatchSection
from replay.store import LocalStore

RERUN_LOG = "rerun.log"


@dataclass(frozen=True)
class JobCapture:
    """One captured mini-batch, with what identifies its job run."""

    capture_id: str
    created: str
    job_id: str
    job_name: str
    index: int
    content: str
    """The mini-batch's identity: its Parquet blob, or its file paths."""
    error: str


def job_captures(store: LocalStore) -> list[JobCapture]:
    """Every readable mini-batch capture in `store`, newest first."""
    found = []
    for row in store.list():
        if row.get("kind") != "minibatch":
            continue
        try:
            section = MiniBatchSection.of(store.load_document(row["id"]))
        except ReplayError:
            continue  # unreadable captures are `replay verify`'s to report
        content = section.parquet or "\n".join(section.files or [])
        found.append(JobCapture(row["id"], row["created"], section.job_id, section.job_name,
                                section.index, content, row.get("error", "")))
    return sorted(found, key=lambda c: c.created, reverse=True)


def select_job(captures: list[JobCapture], job: str | None = None) -> list[JobCapture]:
    """The captures of one job run, one per mini-batch content, in mini-batch order.

    `job` is a step name (its latest run) or a job id prefix; None means the job run
    with the newest capture.
    """
    if not captures:
        raise CaptureNotFound("no captured mini-batches in the store (see 'replay parallel run --store')")
    if job is None:
        chosen = captures[0].job_id
    else:
        named = [c for c in captures if c.job_name == job or c.job_id.startswith(job)]
        if not named:
            names = ", ".join(sorted({c.job_name for c in captures}))
            raise CaptureNotFound(f"no captured mini-batches of a job {job!r} (jobs: {names})")
        chosen = named[0].job_id
    newest: dict[str, JobCapture] = {}
    for capture in captures:  # newest first: the first capture of a content stands for it
        if capture.job_id == chosen:
            newest.setdefault(capture.content, capture)
    return sorted(newest.values(), key=lambda c: c.index)


def minibatch_of(store: LocalStore, capture_id: str, index: int) -> str:
    """The capture of mini-batch `index` in the job run that capture `capture_id` is from."""
    try:
        job_id = MiniBatchSection.of(store.load_document(capture_id)).job_id
    except ReplayError as exc:
        raise UsageError(f"--mini-batch needs a capture of a batch step's mini-batch: {exc}") from None
    siblings = select_job(job_captures(store), job_id)
    match = [c.capture_id for c in siblings if c.index == index]
    if not match:
        known = ", ".join(str(c.index) for c in siblings)
        raise CaptureNotFound(f"mini-batch {index} of job {job_id} was not captured (captured: {known})")
    return match[0]


@dataclass
class RerunRow:
    """One line of the table."""

    index: int
    capture_id: str
    captured: str
    verdict: str  # reproduced | different | passed | error
    replayed: str
    log: Path

    def to_json(self) -> dict[str, Any]:
        return {"minibatch_index": self.index, "capture_id": self.capture_id, "verdict": self.verdict,
                "captured": self.captured, "replayed": self.replayed, "log": str(self.log)}


def rerun(
    store: LocalStore,
    captures: list[JobCapture],
    source: Path | None,
    progress: Callable[[RerunRow], None] = lambda row: None,
) -> list[RerunRow]:
    """Replay each capture (on `source` when given); the step's output goes to a log per
    capture, and a capture that cannot be replayed is an `error` row, not the end."""
    rows = []
    for capture in captures:
        log = default_workdir(store, capture.capture_id) / RERUN_LOG
        try:
            verdict = replay_step(store, capture.capture_id, RunOptions(source=source, output_file=log),
                                  notice=lambda line: None)
        except ReplayError as exc:
            row = RerunRow(capture.index, capture.capture_id, capture.error, "error", str(exc), log)
        else:
            replayed = verdict.replayed.describe() if verdict.replayed else "-"
            row = RerunRow(capture.index, capture.capture_id, capture.error, verdict.verdict, replayed, log)
        rows.append(row)
        progress(row)
    return rows
