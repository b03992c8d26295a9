"""`capture_failures`: capture failing `run()` calls where the platform runs the workers.

    from replay.parallel import capture_failures

    def run(mini_batch):
        ...

    run = capture_failures(run)      # or @capture_failures above `def run`

On the cloud platform, replay does not own the worker processes; this one line puts it
between the platform and `run()`. A call that raises is captured like a failed
mini-batch of the local runner (its content, context, the entry script and its source,
argv, and the models the script resolved, recorded through the SDK boundaries that
wrapping switches on), and the exception is raised again unchanged, so the platform
still counts the failure and retries as it would. A call the platform will fail by its
own rules (no result, fewer elements than inputs) is captured too and its result
returned unchanged. Captures go to `REPLAY_STORE`, else the job's outputs folder (which
the platform uploads with the run); `replay fetch` or a download brings them home,
where `replay run ID` replays them and `replay parallel rerun --failed` re-runs them.

Light on purpose: importing this module and wrapping load only the standard library
and replay's boundary recording, and a call that succeeds pays a length check. The
wrapper stands aside where it must not capture: under `replay parallel run`, whose
runner captures failures itself after the last try, and inside a replay.
"""

from __future__ import annotations

import functools
import itertools
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from replay.parallel.contract import RUNNER_ENV, JudgedFailure, accepts_context, check_complete, count_result

F = TypeVar("F", bound=Callable[..., Any])

_calls = itertools.count()
"""Numbers this process's `run()` calls: the mini-batch index when the platform passes no context."""
_process_job = uuid.uuid4().hex[:12]


def capture_failures(run: F) -> F:
    """Return `run` so that its failing calls are captured, with the same signature
    (the platform passes the mini-batch context only to a `run` that takes it)."""
    from replay import boundaries

    if os.environ.get(RUNNER_ENV) or isinstance(boundaries.active(), boundaries.Player):
        return run  # the local runner captures itself; a replay must not capture
    script = os.path.realpath(run.__code__.co_filename if hasattr(run, "__code__") else sys.argv[0])
    recorder = _recorder(os.path.dirname(script))

    def call(mini_batch: Any, *context: Any) -> Any:
        number, started = next(_calls), time.monotonic()
        try:
            result = run(mini_batch, *context)
        except Exception as exc:
            _capture(script, recorder, (mini_batch, context, number), exc, time.monotonic() - started)
            raise
        try:
            check_complete(count_result(result), len(mini_batch))
        except JudgedFailure as judged:
            _capture(script, recorder, (mini_batch, context, number), judged, time.monotonic() - started)
        return result

    if accepts_context(run):

        def wrapper(mini_batch: Any, mini_batch_context: Any) -> Any:
            return call(mini_batch, mini_batch_context)

    else:

        def wrapper(mini_batch: Any) -> Any:  # type: ignore[misc]
            return call(mini_batch)

    return functools.wraps(run)(wrapper)  # type: ignore[return-value]


def _recorder(source_root: str) -> Any:
    """Record the calls the script makes to the platform (model paths, datasets) from now
    on, so a capture can serve them at replay; an active recorder (the startup hook's
    agent) is shared."""
    from replay import boundaries, stubs

    active = boundaries.active()
    if isinstance(active, boundaries.Recorder):
        return active
    recorder = boundaries.start_recording(source_root)
    stubs.watch_sdk()
    return recorder


def _capture(script: str, recorder: Any, call: tuple[Any, tuple[Any, ...], int],
             exc: BaseException, duration: float) -> None:
    """Capture one failing call (mini-batch, context, call number); never raises, and
    gives up after the capture timeout."""
    try:
        from replay.capture.options import CaptureOptions
        from replay.parallel.worker import try_error

        attempt = {**try_error(exc), "duration": duration,
                   "worker": {"host": socket.gethostname(), "pid": os.getpid()}}  # frames read now, alive
        options = CaptureOptions.from_env()
        outcome: dict[str, Any] = {}
        worker = threading.Thread(
            target=_publish, args=(script, recorder, call, attempt, options, outcome),
            name="replay-minibatch-capture", daemon=True)
        worker.start()
        worker.join(options.timeout)
        if worker.is_alive():
            raise TimeoutError(f"capture took over {options.timeout:g} s")
        if "error" in outcome:
            raise outcome["error"]
        _say(f"captured {outcome['id']} in {outcome['where']} (failing run() of "
             f"{os.path.basename(script)}; replay run {outcome['id']} --attach)")
    except BaseException as err:  # noqa: BLE001 - the platform must see the step's failure, not ours
        _say(f"warning: capture failed ({type(err).__name__}: {err}); the failure is unchanged")


def _publish(script: str, recorder: Any, call: tuple[Any, tuple[Any, ...], int],
             attempt: dict[str, Any], options: Any, outcome: dict[str, Any]) -> None:
    import tempfile

    try:
        from replay.capture.writer import open_store, publish_remote
        from replay.parallel.capture import MiniBatchCapturer

        store, remote = open_store(options.store)
        with tempfile.TemporaryDirectory(prefix="replay-minibatch-") as tmp:
            record = _record(script, call, attempt, tmp)
            outcome["id"] = MiniBatchCapturer(store, options)(record, recorder)
        outcome["where"] = publish_remote(store, outcome["id"], remote) if remote else str(store.root)
    except BaseException as err:  # noqa: BLE001 - reported by the caller
        outcome["error"] = err


def _record(script: str, call: tuple[Any, tuple[Any, ...], int], attempt: dict[str, Any],
            tmp: str) -> dict[str, Any]:
    """The failing call in the runner's record shape (see `replay.parallel.runner`)."""
    mini_batch, context_args, number = call
    context = context_args[0] if context_args else None
    tabular = not isinstance(mini_batch, (list, tuple))
    files = None if tabular else [os.path.abspath(os.fspath(p)) for p in mini_batch]
    parquet, content_error = None, None
    if tabular:
        try:
            parquet = os.path.join(tmp, "mini_batch.parquet")
            mini_batch.to_parquet(parquet)
        except Exception as exc:  # noqa: BLE001 - the capture says why the content is missing
            parquet, content_error = None, f"{type(exc).__name__}: {exc}"
    roots = [os.path.commonpath([os.path.dirname(f) for f in files])] if files else []
    given = getattr(context, "minibatch_index", None)
    index = int(given) if given is not None else number
    partition = getattr(context, "partition_key_value", None) or {}
    kind = "tabular" if tabular else "files"
    return {
        "index": index,
        "kind": kind, "files": files, "parquet": parquet, "content_error": content_error,
        "context": {
            "partition_key_value": {str(k): v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
                                    for k, v in dict(partition).items()},
            "minibatch_index": index,
            "dataset": {"kind": kind, "roots": roots, "partition_format": None},
        },
        "items": len(mini_batch), "failed_items": len(mini_batch),
        "tries": [attempt], "worker": attempt["worker"],
        "config": {}, "args": sys.argv[1:], "entry_script": script,
        "source_directory": os.path.dirname(script), "side_inputs": [], "models": {},
        "step_name": os.environ.get("REPLAY_NAME") or os.path.splitext(os.path.basename(script))[0],
        "job_id": os.environ.get("AZUREML_RUN_ID") or _process_job,
        "executor": "platform", "cwd": os.getcwd(), "output_dir": None,
    }


def _say(line: str) -> None:
    stream = sys.__stderr__ or sys.stderr
    try:
        stream.write(f"replay: {line}\n")
        stream.flush()
    except (OSError, ValueError):
        pass
