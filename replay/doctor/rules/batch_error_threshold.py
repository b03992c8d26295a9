"""More inputs failed than `error_threshold` allows, so the batch job aborted.

The count is over the whole job (records for tabular input, files for file input) and
the job aborts as soon as it exceeds the threshold. The threshold is rarely the real
problem: the failing mini-batches are, and other findings usually name why.
"""

from __future__ import annotations

from collections.abc import Iterator

from replay.doctor import batch
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule


@rule("batch-error-threshold-exceeded")
def check(ctx: Context) -> Iterator[Finding]:
    matches = list(ctx.grep(batch.THRESHOLD))
    if not matches:
        return
    failed, unit, threshold = matches[0].groups()
    yield Finding(
        code="batch-error-threshold-exceeded",
        severity="error",
        message=f"the batch job aborted: {failed} failed {unit}(s) exceed error_threshold {threshold}",
        evidence=[m.string for m in matches[:2]],
        fix="fix what makes the mini-batches fail (the other findings, and each try's error in "
        f"logs/job_error.txt); if some {unit} failures are expected, raise error_threshold above "
        f"{failed} (ParallelRunConfig(error_threshold=...); -1 tolerates every failure)",
        confidence="high",
    )
