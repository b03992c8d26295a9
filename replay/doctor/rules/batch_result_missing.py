"""`run(mini_batch)` returned nothing: every element of the mini-batch counts as failed.

The platform counts each returned element as one processed input; a `run()` that
computes results but forgets `return` (or returns None) processes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from replay.doctor import batch
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule


@rule("batch-run-returned-nothing")
def check(ctx: Context) -> Iterator[Finding]:
    lines = [m.string for m in ctx.grep(batch.RETURNED_NONE)]
    if not lines:
        return
    yield Finding(
        code="batch-run-returned-nothing",
        severity="error",
        message="run(mini_batch) returned None, so every input of the mini-batch counted as failed",
        evidence=lines[:3],
        fix="end run() with `return results`, one element per input: a list for a file dataset "
        "(e.g. [f'{os.path.basename(path)},{score}' for ...]) or a pandas DataFrame with one row "
        "per input row for a tabular dataset",
        confidence="high",
    )
