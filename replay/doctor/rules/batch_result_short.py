"""`run(mini_batch)` returned fewer elements than it was given.

Each returned element counts as one processed input, so the missing ones count as
failed (and towards `error_threshold`). Outputs are not kept in input order, so results
should carry a key back to their input.
"""

from __future__ import annotations

from collections.abc import Iterator

from replay.doctor import batch
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule


@rule("batch-run-short-result")
def check(ctx: Context) -> Iterator[Finding]:
    matches = list(ctx.grep(batch.SHORT_RESULT))
    if not matches:
        return
    returned, given = matches[0].group(1), matches[0].group(2)
    yield Finding(
        code="batch-run-short-result",
        severity="error",
        message=f"run(mini_batch) returned {returned} element(s) for {given} input(s); "
        "the missing ones count as failed",
        evidence=[m.string for m in matches[:3]],
        fix="return one element per input, including inputs that could not be scored (e.g. a row "
        "with an error marker instead of skipping it), each carrying its input's key (file name "
        "or id), since output order is not guaranteed",
        confidence="high",
    )
