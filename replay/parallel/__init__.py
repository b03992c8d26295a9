"""Batch-inference ("parallel run") steps, run locally with the platform's semantics.

    from replay.parallel import ParallelRunConfig, run_parallel
    result = run_parallel(ParallelRunConfig(
        entry_script="score.py", inputs=["data/"], error_threshold=10,
        output_action="append_row"), on_failed_minibatch=print)

In an entry script the platform runs, capture failing `run()` calls (re-raised):

    from replay.parallel import capture_failures
    run = capture_failures(run)

Names resolve lazily so `import replay.parallel` stays cheap (no pandas, no dask).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ParallelRunConfig", "ParallelJob", "JobResult", "capture_failures", "resolve_config", "run_parallel"]

_WHERE = {
    "ParallelRunConfig": "replay.parallel.config",
    "ParallelJob": "replay.parallel.config",
    "resolve_config": "replay.parallel.config",
    "JobResult": "replay.parallel.runner",
    "run_parallel": "replay.parallel.runner",
    "capture_failures": "replay.parallel.wrapper",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'replay.parallel' has no attribute {name!r}")
