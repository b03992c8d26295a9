"""Write a capture: snapshot the failing state, then copy and publish it.

`snapshot` runs on the step's thread while the failing frames are alive and does
only in-memory work. `persist` copies files into the store and publishes the
manifest; the agent runs it under a deadline. Everything textual passes through one
redactor before it is kept, so no secret reaches the store.
"""

from __future__ import annotations

import os
import resource
import time

from replay.capture.environment import environment_section
from replay.capture.failure import describe_failure, trim_traceback
from replay.capture.files import Budget, Copier, capture_input, capture_sources, is_candidate_input
from replay.redact import Redactor

TYPE_CHECKING = False  # typing, datetime and socket would cost a failing job ~10 ms
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

    from replay.capture.agent import Agent
    from replay.capture.scan import FolderScan
    from replay.store import LocalStore


def _now() -> str:
    """UTC now as ISO 8601 with milliseconds, as `datetime.isoformat` writes it."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}+00:00"


def _peak_rss_kb(of_children: bool) -> int | None:
    """Peak memory of the step: this process, or the child command it ran."""
    try:
        who = resource.RUSAGE_CHILDREN if of_children else resource.RUSAGE_SELF
        return int(resource.getrusage(who).ru_maxrss)
    except (OSError, ValueError):
        return None


def snapshot(
    agent: Agent,
    exc: BaseException | None,
    tb: TracebackType | None,
    exit_code: int,
    signal: int | None,
    shown: str | None = None,
) -> dict[str, Any]:
    """Everything about the failure that lives only in memory, redacted. `shown`: the
    traceback as the job printed it, when known."""
    redactor = Redactor(os.environ)
    step = agent.step
    argv = redactor.redact_argv(step.argv)  # first: secrets it finds are hunted everywhere after
    failure = None
    if exc is not None:
        failure = describe_failure(
            exc, trim_traceback(tb), redactor.redact_text, redactor.redact_value, step.cwd, shown
        )
    variables, redacted = redactor.redact_env(dict(os.environ))
    outputs = [
        {
            "path": arg.path,
            "existed_at_start": arg.existed,
            "existed_at_end": os.path.exists(arg.path),
            "how": "argv",
        }
        for arg in agent.output_args()
    ]
    tee_out, tee_err = agent.stdout, agent.stderr
    return {
        "step": {
            "name": step.name,
            "argv": argv,
            "cwd": step.cwd,
            "mode": step.mode,
            "target": step.target,
            "executable": step.executable,
            "source_root": step.source_root,
        },
        "outcome": {
            "exit_code": exit_code,
            "signal": signal,
            "duration_s": round(max(0.0, time.time() - agent.started), 3),
            "peak_rss_kb": _peak_rss_kb(of_children=step.mode == "command"),
        },
        "failure": failure,
        "outputs": outputs,
        "reads": dict(agent.files.reads),
        "writes": dict(agent.files.writes),
        "environment": {"variables": variables, "redacted": redacted},
        "logs": {
            "stdout": redactor.redact_text(tee_out.tail() if tee_out else ""),
            "stderr": redactor.redact_text(tee_err.tail() if tee_err else ""),
            "records": [
                {**r, "message": redactor.redact_text(r["message"])} for r in agent.logs.as_dicts()
            ],
        },
        "recorder": agent.recorder,
    }


def open_store(spec: str | None) -> tuple[LocalStore, str | None]:
    """The local store to write to, and the remote store (`sftp://`) to publish to after.

    A capture for a remote store is written to the default local store first, so a
    network failure loses nothing."""
    from replay.store import LocalStore, default_store_root, is_remote, resolve_store_spec

    resolved = resolve_store_spec(spec)
    remote = resolved if is_remote(resolved) else None
    store = LocalStore(default_store_root() if remote else resolved)
    store.ensure()
    return store, remote


def publish_remote(store: LocalStore, capture_id: str, remote: str) -> str:
    """Push the capture to `remote`; say where the capture is either way."""
    try:
        from replay.remote.transfer import push

        push(store, capture_id, remote)
    except Exception as err:  # the local copy stands; the job's outcome is untouched
        return f"{store.folder} (not sent to {remote}: {err})"
    return remote


def persist(agent: Agent, snap: dict[str, Any], scans: dict[str, FolderScan]) -> tuple[str, str]:
    """Copy inputs, sources and the environment lockfile into the store and publish.
    `scans`: the `find`s the agent started for input folders, by real path."""
    options = agent.options
    store, remote = open_store(options.store)
    copier = Copier(store, scans)
    budget = Budget(options.max_input_bytes, options.max_file_bytes)
    exclude = (store.folder + os.sep, _pycache_prefix(agent))

    sources, truncated = capture_sources(
        agent.step.source_root, copier, options.max_source_bytes, options.max_source_files
    )
    environment = environment_section(store, snap["environment"])  # while input folders' `find`s run
    # Sources were walked without following links under a resolved root: joining is exact.
    source_files = {os.path.join(agent.step.source_root, s["path"]) for s in sources}
    inputs: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(path: str, how: str, full: str | None = None) -> None:
        """Capture `path` (as the step named it) once; `full`: its real path, if known."""
        full = full or os.path.realpath(os.path.join(agent.step.cwd, path))
        if full in seen:
            return
        seen.add(full)
        record = capture_input(full, how, copier, budget)
        if record is not None:
            record["path"] = os.path.normpath(os.path.join(agent.step.cwd, path))
            inputs.append(record)

    for path, how in agent.named_inputs():
        add(path, how)
    for path in snap["reads"]:
        full = os.path.realpath(os.path.join(agent.step.cwd, path))
        if full in source_files or _under_any(full, seen):
            continue
        if is_candidate_input(full, exclude):
            add(full, "opened", full)

    upstream = snap["recorder"].to_calls(store, budget) if snap["recorder"] is not None else []
    failure = snap["failure"]
    capture_id = publish(
        store,
        copier,
        {
            "status": "failed" if (failure or snap["outcome"]["exit_code"]) else "passed",
            "kind": "step",
            "step": {**snap["step"], "sources": sources, "sources_truncated": truncated},
            "outcome": snap["outcome"],
            "failure": failure,
            "inputs": inputs,
            "outputs": snap["outputs"],
            "upstream": upstream,
            "environment": environment,
            "logs": snap["logs"],
            "notes": list(getattr(snap["recorder"], "notes", [])),
            "extra": {
                "source_hash": source_hash(sources),
                "writes": _write_counts(snap["writes"], exclude),
            },
        },
    )
    return capture_id, publish_remote(store, capture_id, remote) if remote else store.folder


def publish(store: LocalStore, copier: Copier, sections: dict[str, Any]) -> str:
    """Publish `sections` (a manifest but for `id` and `created`) atomically, and
    remember the hashes of the files copied for it; return its id.

    Written as plain JSON: pydantic's first model would cost the job 100-300 ms, and
    every reader validates the manifest anyway (the tests read back every capture)."""
    from replay.document import SCHEMA_VERSION

    capture_id = store.new_id()
    # Recorded upstream calls arrive as models from the boundary recorder.
    upstream = [c.model_dump(mode="json") if hasattr(c, "model_dump") else c
                for c in sections.get("upstream", [])]
    doc = {"schema_version": SCHEMA_VERSION, "id": capture_id, "created": _now(),
           **sections, "upstream": upstream}
    try:
        store.publish_document(doc, held=copier.held)
    finally:  # the blobs copied are in the store either way; a batch's Copier goes on
        copier.flush()
    return capture_id


def _pycache_prefix(agent: Agent) -> str:
    """The step's own bytecode cache: what it writes there is not an output."""
    return agent.step.source_root.rstrip(os.sep) + os.sep + "__pycache__"


def _under_any(path: str, roots: set[str]) -> bool:
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def source_hash(sources: list[dict[str, Any]]) -> str:
    from replay.hashing import hash_bytes

    text = "\n".join(f"{s['path']} {s['sha256']}" for s in sorted(sources, key=lambda s: s["path"]))
    return hash_bytes(text.encode())


def _write_counts(writes: dict[str, int], exclude: tuple[str, ...]) -> dict[str, Any]:
    """Files the step opened for writing, with counts and the filesystem type of each,
    so repeated appends to a network mount can be recognised."""
    from replay.capture.mounts import filesystem_of

    out: dict[str, Any] = {}
    for path, count in sorted(writes.items(), key=lambda kv: -kv[1])[:200]:
        if path.startswith(exclude) or path.startswith(("/dev/", "/proc/")):
            continue
        out[path] = {"opens": count, "fs": filesystem_of(path)}
    return out
