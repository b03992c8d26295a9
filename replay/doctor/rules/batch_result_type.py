"""`run(mini_batch)` returned something that is neither a list/array nor a DataFrame.

A dict, a string or a number is not a result: the platform counts elements of a list
or rows of a DataFrame, and writes one output line per element.
"""

from __future__ import annotations

from collections.abc import Iterator

from replay.doctor import batch
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule


@rule("batch-run-result-type")
def check(ctx: Context) -> Iterator[Finding]:
    matches = list(ctx.grep(batch.RETURNED_TYPE))
    if not matches:
        return
    kind = matches[0].group(1)
    yield Finding(
        code="batch-run-result-type",
        severity="error",
        message=f"run(mini_batch) returned {kind}, which is neither a list nor a pandas DataFrame",
        evidence=[m.string for m in matches[:3]],
        fix="return a list (one element per input file) or a pandas DataFrame (one row per input "
        "row); for a dict of results return list(results.values()) or "
        "pd.DataFrame({'key': list(results), 'result': list(results.values())})",
        confidence="high",
    )
