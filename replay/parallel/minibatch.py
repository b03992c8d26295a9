"""Replay one captured mini-batch: `init()`, then `run(mini_batch)` as the runner calls it.

The engine rebuilds a mini-batch capture like any other (sources, inputs, upstream
calls served from the capture, platform stubs in replay mode) and adds the part only a
batch step has, from `harness_spec`: where the content now lives and the context
`run()` gets. In the harness process, `run_minibatch` imports the entry script the way
a worker does, calls `init()` and `run()` through the same contract
(`replay.parallel.contract`) and judges the result by the runner's rules, so a short
result, a missing result or a timeout fails the replay as it failed the try. A
failure comes back as the exception the harness reports, judges and shows the
debugger; a `run()` that hangs is interrupted at `run_invocation_timeout`, so the
debugger shows where it hung.

At replay, `mini_batch_context.dataset` covers the captured mini-batch only: the rest
of the input was never captured.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay.errors import ReplaySetupError, UntrustedCaptureError
from replay.launch import Ended, exit_code_of
from replay.parallel.batching import DatasetSubset
from replay.parallel.contract import (
    WORKER_DIED,
    MiniBatchContext,
    RunInvocationTimeout,
    accepts_context,
    call_run,
    check_complete,
    count_result,
)
from replay.parallel.section import MiniBatchSection

if TYPE_CHECKING:
    from replay.engine.workspace import Workspace
    from replay.store import LocalStore

PARQUET = "mini_batch.parquet"


def harness_spec(manifest: Mapping[str, Any], ws: Workspace, store: LocalStore) -> dict[str, Any]:
    """The mini-batch part of the harness spec: content and context, at their local places."""
    section = MiniBatchSection.of(manifest)
    if section.content_error:
        raise ReplaySetupError(
            f"mini-batch {section.index}'s content was not captured ({section.content_error}); "
            "it cannot be replayed"
        )
    roots = [local for root in section.dataset.roots
             if (local := ws.paths.map_path(root)) and os.path.exists(local)]
    files: list[str] | None = None
    parquet: str | None = None
    if section.kind == "files":
        files = []
        for path in section.files or []:
            local = ws.paths.map_path(path)
            if local is None:
                raise UntrustedCaptureError(f"{manifest['id']}: mini-batch file {path} is not among its inputs")
            files.append(local)
    else:
        if section.parquet is None:
            raise UntrustedCaptureError(f"{manifest['id']}: a tabular mini-batch without its Parquet blob")
        target = ws.root / "minibatch" / PARQUET
        store.copy_blob(section.parquet, target)
        parquet, roots = str(target), [str(target)]
    return {
        "kind": section.kind,
        "files": files,
        "parquet": parquet,
        "index": section.index,
        "partition_key_value": section.partition_key_value,
        "dataset": {"kind": section.dataset.kind, "roots": roots,
                    "partition_format": section.dataset.partition_format},
        "timeout": section.run_invocation_timeout,
    }


def run_minibatch(spec: dict[str, Any]) -> Ended:
    """In the harness process: import the entry script, `init()`, `run()`, judge; never raises."""
    from replay.parallel.worker import import_entry_script

    batch = spec["minibatch"]
    attach = spec.get("attach") or {}
    try:
        entry = import_entry_script(spec["target"], spec["source_root"], spec["args"], "replay_entry_script")
        entry.init()
        mini_batch = _content(batch)
        partition = tuple(batch["partition_key_value"].items())
        dataset = batch["dataset"]
        context = MiniBatchContext(
            partition_key_value=dict(partition),
            dataset=DatasetSubset(dataset["kind"], tuple(dataset["roots"]), dataset["partition_format"], partition),
            minibatch_index=batch["index"],
        )
        _expect_death(Path(spec["result_file"]))
        with _deadline(None if attach.get("from_start") else batch["timeout"]):
            result = call_run(entry.run, accepts_context(entry.run), mini_batch, context)
        check_complete(count_result(result), len(mini_batch))
    except BaseException as exc:  # every outcome is the step's to report
        return Ended(exc, exc.__traceback__, exit_code_of(exc), isinstance(exc, KeyboardInterrupt))
    return Ended(None, None, 0)


def _content(batch: dict[str, Any]) -> Any:
    """What `run()` receives: the list of local paths, or the DataFrame."""
    if batch["kind"] == "files":
        return list(batch["files"])
    import pandas

    return pandas.read_parquet(batch["parquet"])


def _expect_death(result_file: Path) -> None:
    """Leave the result of a process that dies inside `run()` (`os._exit`, a crash in a
    library), which the runner reports as a dead worker; the harness overwrites it."""
    signature = {"type": WORKER_DIED, "file": "", "function": "", "line": 0,
                 "message": "the process exited during run()"}
    result_file.write_text(json.dumps({"setup_error": None, "signature": signature, "platform_log": []}))


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Raise `RunInvocationTimeout` inside `run()` after `seconds`, where it is stuck."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise RunInvocationTimeout(f"run() did not return within run_invocation_timeout={seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
