"""The entry-script contract: how `run()` is called and what counts as its result.

The platform calls `run(mini_batch)`, or `run(mini_batch, mini_batch_context)` when the
function accepts a second positional argument, and counts each returned element as one
processed input element. Both executors call through `call_run()` and judge results
through `count_result()`, so a script behaves the same whichever executor runs it, and
so does the replay of a captured mini-batch.

Some tries fail by the runner's rules rather than by an exception of the script (no
result, a short result, a timeout). Those failures are `JudgedFailure`s: reports name
them by `signature_type`, and the replay's verdict compares them by that name alone,
since they have no failing line of their own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RUNNER_ENV = "REPLAY_PARALLEL_WORKER"
"""Set in the runner's worker processes, where the runner itself captures failures."""


WORKER_DIED = "WorkerDied"
"""The report name of a try whose worker process exited during `run()`."""


class JudgedFailure(Exception):
    """A try the runner fails by its own rules; `signature_type` is its name in reports."""

    signature_type = "JudgedFailure"


class ResultError(JudgedFailure):
    """`run()` returned something that is not a result (None, a number, a dict...)."""

    signature_type = "ResultError"


class ShortResult(JudgedFailure):
    """`run()` returned fewer elements than it was given; the missing ones failed."""

    signature_type = "ShortResult"


class RunInvocationTimeout(JudgedFailure):
    """`run()` did not return within `run_invocation_timeout`."""

    signature_type = "RunInvocationTimeout"


@dataclass
class MiniBatchContext:
    """The second argument of `run()`: the partition's key values, its data, the index."""

    partition_key_value: dict[str, Any] = field(default_factory=dict)
    dataset: Any = None
    minibatch_index: int = 0

    def __repr__(self) -> str:
        return (
            f"MiniBatchContext(partition_key_value={self.partition_key_value!r}, "
            f"minibatch_index={self.minibatch_index})"
        )


def accepts_context(run: Callable[..., Any]) -> bool:
    """True when `run` can take a second positional argument (two params, or *args)."""
    code = getattr(run, "__code__", None)
    if code is not None and not hasattr(run, "__self__") and not hasattr(run, "__wrapped__"):
        return bool(code.co_flags & 0x04) or code.co_argcount >= 2  # 0x04: CO_VARARGS
    import inspect

    try:
        sig = inspect.signature(run)
    except (TypeError, ValueError):
        return False
    positional = 0
    for param in sig.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            return True
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


def call_run(
    run: Callable[..., Any], with_context: bool, mini_batch: Any, context: MiniBatchContext
) -> Any:
    """Call `run` the way the platform does."""
    if with_context:
        return run(mini_batch, context)
    return run(mini_batch)


def _is_dataframe(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.DataFrame)


def count_result(result: Any) -> int:
    """The number of elements `run()` returned; raise `ResultError` if it returned no result.

    A DataFrame counts its rows; a list, tuple, array or Series its elements. None,
    strings, mappings, scalars and iterators without a length are not results.
    """
    if result is None:
        raise ResultError("run() returned None; it must return a list, an array or a pandas DataFrame")
    if _is_dataframe(result):
        return len(result)
    if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__len__"):
        raise ResultError(
            f"run() returned {type(result).__name__}; it must return a list, an array "
            "or a pandas DataFrame with one element per processed input"
        )
    if getattr(result, "ndim", 1) == 0:
        raise ResultError("run() returned a 0-dimensional array; return a list or 1-D array")
    return len(result)


def check_complete(returned: int, items: int) -> None:
    """Raise `ShortResult` when `run()` returned fewer elements than it was given."""
    if returned < items:
        raise ShortResult(
            f"run() returned {returned} element(s) for {items} input(s); "
            f"the {items - returned} missing one(s) count as failed"
        )
