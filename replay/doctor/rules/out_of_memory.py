"""The step ran out of memory: a `MemoryError`, or death by SIGKILL (the OOM killer).

A `MemoryError` (numpy's `_ArrayMemoryError` included) is certain. SIGKILL cannot be
caught, so the agent only sees the signal; on a job it is almost always the kernel's
out-of-memory killer (a platform timeout or a user's `kill -9` are the alternatives),
hence medium confidence. The peak memory the agent measured goes into the evidence.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

from replay.doctor.context import Context, short_type
from replay.doctor.finding import Confidence, Finding
from replay.doctor.registry import rule

SIGKILL = int(signal.SIGKILL)


def _megabytes(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB" if kb < 1024 * 1024 else f"{kb / 1024 / 1024:,.1f} GB"


def _memory_error(ctx: Context) -> str | None:
    """`Type: message` of a host-memory error in the chain. GPU errors (`torch`'s
    `OutOfMemoryError`) need another fix (smaller batches on the device) and are left out."""
    for kind, message in ctx.failure_chain:
        name = short_type(kind)
        if name.endswith("MemoryError") and "OutOfMemory" not in name:
            return f"{kind}: {message}"
    return None


def _fix(ctx: Context) -> str:
    config = ctx.extra_dict("config")
    if ctx.manifest.kind == "minibatch" or config:
        size = config.get("mini_batch_size", "?")
        per_node = config.get("process_count_per_node", "?")
        return (f"lower mini_batch_size (now {size}) or process_count_per_node (now {per_node}) "
                "so each worker holds less, or choose a VM size with more memory")
    return ("choose a VM size with more memory, or make the step hold less at once: read the input "
            "in chunks (pd.read_csv(path, chunksize=100_000)), process and release each chunk, "
            "use smaller dtypes (float32, category)")


def _killed(ctx: Context) -> tuple[str, Confidence] | None:
    """(evidence line, confidence) when the step died of SIGKILL."""
    outcome = ctx.manifest.outcome
    if outcome.signal == SIGKILL:
        return f"killed by signal {SIGKILL} (SIGKILL) after {outcome.duration_s:.1f} s", "medium"
    if ctx.manifest.step.mode == "command" and outcome.exit_code == 128 + SIGKILL:
        # A shell reports a child killed by a signal as 128 + its number; an exit status
        # of 137 chosen by a program is possible, hence low confidence.
        return (f"the command exited with {outcome.exit_code} (128 + SIGKILL: a process it ran was "
                f"killed) after {outcome.duration_s:.1f} s", "low")
    return None


@rule("out-of-memory")
def check(ctx: Context) -> Iterator[Finding]:
    outcome = ctx.manifest.outcome
    error = _memory_error(ctx)
    killed = _killed(ctx)
    confidence: Confidence
    if error is not None:
        evidence, confidence = [error], "high"
    elif killed is not None:
        evidence, confidence = [killed[0]], killed[1]
    else:
        return
    if ctx.site_line():
        evidence.append(ctx.site_line())
    if outcome.peak_rss_kb:
        evidence.append(f"peak memory (max RSS): {_megabytes(outcome.peak_rss_kb)}")
    yield Finding(
        code="out-of-memory",
        severity="error",
        message="the step ran out of memory" if error else
        "the step was killed by SIGKILL, most likely by the kernel's out-of-memory killer",
        evidence=evidence,
        fix=_fix(ctx),
        confidence=confidence,
    )
