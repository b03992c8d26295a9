"""A `run(mini_batch)` call took longer than `run_invocation_timeout`.

The platform kills a worker whose `run()` exceeds the timeout and counts the try as
failed; after `run_max_try` tries the mini-batch fails. Either the timeout is too short
for a mini-batch of this size, or the mini-batch is too big for the timeout.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from replay.doctor import batch
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule

TIMEOUT_KIND = "RunInvocationTimeout"


@rule("batch-run-timeout")
def check(ctx: Context) -> Iterator[Finding]:
    matches = list(ctx.grep(batch.TIMEOUT))
    if not matches:
        return
    stated = next((float(m.group(1)) for m in matches if m.group(1)), None)
    known = batch.config(ctx).get("run_invocation_timeout")
    timeout = stated if stated is not None else (float(known) if known is not None else None)
    measured = batch.try_durations(ctx, TIMEOUT_KIND)
    evidence = [m.string for m in matches[:3]]
    if measured:
        evidence.append("measured run() time per try: " + ", ".join(f"{d:.1f} s" for d in measured))
    elif ctx.manifest.kind == "minibatch":
        evidence.append(f"measured: {ctx.manifest.outcome.duration_s:.1f} s for the mini-batch")
    longest = max(measured, default=timeout or 0.0)
    now = f"{timeout:g} s" if timeout is not None else "60 s (default)"
    suggested = max(math.ceil(2 * longest), math.ceil(2 * (timeout or 60)))
    size = batch.setting(ctx, "mini_batch_size", "10 files / 1MB")
    yield Finding(
        code="batch-run-timeout",
        severity="error",
        message=f"a run(mini_batch) call did not finish within run_invocation_timeout ({now})",
        evidence=evidence,
        fix=f"raise run_invocation_timeout (now {now}; e.g. run_invocation_timeout={suggested}), "
        f"or shrink mini_batch_size (now {size}) so one run() call finishes in time",
        confidence="high",
    )
