"""Failed mini-batches become captures (`kind="minibatch"`) that `replay run` replays.

A record of a finally-failed mini-batch (from the runner, see `replay.parallel.runner`,
or from `capture_failures` on the platform, in the same shape) is turned into a capture
built from the capture agent's own pieces, so it reads like any other:

- step: the entry script as the target, its arguments as argv, the source directory
  as the source root (the agent's source capture);
- inputs: a file mini-batch's files (each input folder holding just those files, so
  their paths keep their shape under it) and the side inputs, copied within the
  capture's budget like any input; a tabular mini-batch's DataFrame is a Parquet blob,
  always kept (it is the mini-batch, about `mini_batch_size`);
- upstream: `Model.get_model_path` answers (the runner's `--model` paths, copied
  within the budget) or the calls the wrapper recorded, so the replay resolves models
  to the captured copies;
- failure: the last try's, as the worker described it while its frames were alive;
  every try is kept in the mini-batch section (`replay.parallel.section`);
- environment: the agent's environment section, computed once per job.

Texts from the job (messages, tracebacks, argv, logs) pass through the agent's
redactor: no secret reaches the store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay.capture.environment import environment_section
from replay.capture.files import Budget, Copier, capture_input, capture_sources
from replay.capture.options import CaptureOptions
from replay.capture.writer import publish, source_hash
from replay.parallel.output import JobLayout
from replay.parallel.platform import model_paths
from replay.parallel.section import KEY, Dataset, MiniBatchSection, Try
from replay.redact import Redactor
from replay.store import LocalStore

if TYPE_CHECKING:
    from replay.boundaries import Recorder

LOG_TAIL = 64 << 10
"""Bytes of the worker's stdout kept with a capture, like the agent's log tail."""


class MiniBatchCapturer:
    """Publishes failed mini-batch records of one job into `store`.

    One per job: the environment section (a scan of the installed distributions) is
    made once, and the copier remembers the files it copied, so the next capture of
    the same job copies neither the model nor the side inputs again.
    """

    def __init__(self, store: LocalStore, options: CaptureOptions | None = None) -> None:
        self.store = store
        self.options = options or CaptureOptions()
        self.copier = Copier(store)
        self.redactor = Redactor(os.environ)
        self._environment: dict[str, Any] | None = None

    def __call__(self, record: dict[str, Any], recorder: Recorder | None = None) -> str:
        """Publish `record` as a capture and return its id. `recorder` holds the boundary
        calls made in the failing process (the wrapper); without one, the record's
        models are recorded as the answers of `Model.get_model_path`."""
        self.store.ensure()
        redact = self.redactor.redact_text
        budget = Budget(self.options.max_input_bytes, self.options.max_file_bytes)
        script, source = str(record["entry_script"]), str(record["source_directory"])
        argv = self.redactor.redact_argv([script, *record["args"]])  # first: it teaches the redactor
        sources, truncated = capture_sources(
            source, self.copier, self.options.max_source_bytes, self.options.max_source_files, extra=[script]
        )
        notes: list[str] = []
        if not script.startswith(source.rstrip(os.sep) + os.sep):
            notes.append(f"the entry script {script} is outside the source directory; it was not captured")
        dataset = record["context"]["dataset"]
        inputs = _content_inputs(record.get("files") or [], dataset["roots"], self.copier, budget, notes)
        inputs += [i for p in record["side_inputs"] if (i := capture_input(p, "side", self.copier, budget))]
        parquet = self.store.add_file(record["parquet"])[0] if record.get("parquet") else None
        if recorder is not None:
            upstream: list[Any] = recorder.to_calls(self.store, budget)
            notes += recorder.notes
        else:
            upstream = _model_calls(record["models"], self.copier, budget, notes)
        tries = [_try(t, redact) for t in record["tries"]]
        section = _section(record, argv, tries, parquet)
        last = record["tries"][-1]
        return publish(self.store, self.copier, {
            "status": "failed",
            "kind": "minibatch",
            "step": {
                "name": record["step_name"], "argv": argv, "cwd": record.get("cwd") or os.getcwd(),
                "mode": "script", "target": script, "executable": sys.executable,
                "source_root": source, "sources": sources, "sources_truncated": truncated,
            },
            "outcome": {"exit_code": 1, "duration_s": round(sum(t.duration for t in tries), 3)},
            "failure": _redacted(last["failure"], redact) if last.get("failure") else _judged_failure(tries[-1]),
            "inputs": inputs,
            "upstream": upstream,
            "environment": self._environment_section(),
            "logs": {"stdout": redact(_worker_log_tail(record))},
            "notes": notes,
            "extra": {KEY: section.model_dump(), "blobs": [parquet] if parquet else [],
                      "source_hash": source_hash(sources)},
        })

    def _environment_section(self) -> dict[str, Any]:
        if self._environment is None:
            variables, redacted = self.redactor.redact_env(dict(os.environ))
            self._environment = environment_section(self.store, {"variables": variables, "redacted": redacted})
        return self._environment


def _section(record: dict[str, Any], argv: list[str], tries: list[Try], parquet: str | None) -> MiniBatchSection:
    """The mini-batch section: what only a batch step's capture has (argv redacted)."""
    config = record["config"]
    return MiniBatchSection(
        job_id=record["job_id"], job_name=record["step_name"], origin=record["executor"],
        index=record["index"], kind=record["kind"], files=record.get("files"), parquet=parquet,
        content_error=record.get("content_error"),
        partition_key_value=record["context"]["partition_key_value"],
        dataset=Dataset(**record["context"]["dataset"]), items=record["items"],
        failed_items=record["failed_items"], tries=tries, entry_script=str(record["entry_script"]),
        source_directory=record["source_directory"], arguments=argv[1:],
        side_inputs=record["side_inputs"], models=record["models"],
        run_invocation_timeout=config.get("run_invocation_timeout"),
        config={**config, "arguments": argv[1:]} if config else {},
    )


def _content_inputs(
    files: list[str], roots: list[str], copier: Copier, budget: Budget, notes: list[str]
) -> list[dict[str, Any]]:
    """A file mini-batch's files as inputs: per input folder, that folder holding only
    these files, so the replay rebuilds them at the same relative places (partition
    formats like `{user}/{genre}/{name}.txt` still match); a file given as an input by
    itself is a file input."""
    by_root: dict[str, list[str]] = {}
    for path in files:
        root = next((r for r in sorted(roots, key=len, reverse=True)
                     if path == r or path.startswith(r.rstrip(os.sep) + os.sep)), os.path.dirname(path))
        by_root.setdefault(root, []).append(path)
    inputs: list[dict[str, Any]] = []
    for root, paths in by_root.items():
        kept = [(p, item) for p in paths if (item := capture_input(p, "declared", copier, budget))]
        notes += [f"mini-batch file {p} was gone when the capture was written"
                  for p in sorted(set(paths) - {p for p, _ in kept})]
        if paths == [root]:
            inputs += [item for _, item in kept]
            continue
        refs = [{"path": os.path.relpath(p, root).replace(os.sep, "/"), "size": item["size"],
                 "sha256": item.get("sha256"), "copied": item.get("copied", True)} for p, item in kept]
        inputs.append({"path": root, "kind": "dir", "how": "declared", "size": sum(r["size"] for r in refs),
                       "copied": all(r["copied"] for r in refs), "files": refs})
    return inputs


def _model_calls(
    models: dict[str, str], copier: Copier, budget: Budget, notes: list[str]
) -> list[dict[str, Any]]:
    """`Model.get_model_path` calls answered by the `--model` paths, as the boundary
    player serves them: each model's file or folder is copied like an input and
    rebuilt under the replay's work folder. A version is keyed both as text and as a
    number, the two ways a script may pass it."""
    from replay.stubs.facts import MODEL_PATH, model_key

    calls: list[dict[str, Any]] = []
    for key, path in model_paths(models).items():
        item = capture_input(path, "declared", copier, budget)
        if item is None:
            notes.append(f"model {key}: {path} was gone when the capture was written")
            continue
        files = item.get("files") or [{"path": os.path.basename(path), "size": item["size"],
                                       "sha256": item.get("sha256"), "copied": item.get("copied", True)}]
        data: dict[str, Any] = {"path": path}
        if not item.get("copied", True):
            data["reason"] = "over the capture's size budget"
        result = {"kind": item["kind"], "data": data, "files": files, "type": "str"}
        name, _, version = key.partition(":")
        for spelled in [version, int(version)] if version.isdigit() else [version or None]:
            text = model_key(name, spelled)
            calls.append({"seq": len(calls), "name": MODEL_PATH, "key": text, "args": text, "result": result})
    return calls


def _try(attempt: dict[str, Any], redact: Callable[[str], str]) -> Try:
    failure = attempt.get("failure") or {}
    frames, site = failure.get("frames") or [], failure.get("site")
    where = frames[site] if site is not None and 0 <= site < len(frames) else None
    return Try(
        type=attempt["type"], message=redact(attempt["message"]), traceback=redact(attempt.get("traceback") or ""),
        duration=float(attempt.get("duration") or 0.0), worker=attempt.get("worker") or {},
        site=f"{where['file']}:{where['line']} in {where['function']}" if where else "",
    )


def _redacted(failure: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """The worker's failure section with its texts redacted again, by a redactor that
    has also seen the step's argv (a `--token` value in a local's summary)."""
    return {
        **failure,
        "message": redact(failure["message"]),
        "traceback": redact(failure.get("traceback", "")),
        "causes": [{**c, "message": redact(c["message"])} for c in failure.get("causes", [])],
        "frames": [{**f, "code": redact(f.get("code", "")),
                    "locals": {k: redact(v) for k, v in f.get("locals", {}).items()}}
                   for f in failure.get("frames", [])],
    }


def _judged_failure(last: Try) -> dict[str, Any]:
    """The failure section of a try without a described exception (a short result, a
    timeout, a dead worker): its type and message, and no failing line."""
    return {"type": last.type, "message": last.message, "traceback": last.traceback}


def _worker_log_tail(record: dict[str, Any]) -> str:
    """The end of the last try's worker stdout (the runner's per-process log)."""
    worker, output = record.get("worker") or {}, record.get("output_dir")
    if not output or "node" not in worker:
        return ""
    path = JobLayout(Path(output)).stdout_file(str(worker["node"]), str(worker["process"]))
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - LOG_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
