"""A batch-inference entry script without `init()` or `run(mini_batch)`.

The platform imports the entry script and calls `init()` once per worker, then
`run(mini_batch)` per mini-batch; a script missing either fails before any input is
processed, so every worker fails the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from replay.doctor import batch
from replay.doctor.context import Context, short_type
from replay.doctor.finding import Finding
from replay.doctor.registry import rule

_NO_ATTRIBUTE = re.compile(r"module '[^']+' has no attribute '(init|run)'")


def _missing(ctx: Context) -> tuple[str, str] | None:
    """(what is missing, the line that says so)."""
    for match in ctx.grep(batch.ENTRY_MISSING):
        what = match.group(1) or "both init() and run() as functions"
        return what, match.string
    if ctx.manifest.kind == "minibatch":
        for kind, message in ctx.failure_chain:
            found = _NO_ATTRIBUTE.search(message)
            if short_type(kind) == "AttributeError" and found:
                return f"{found.group(1)}()", f"{kind}: {message}"
    return None


@rule("batch-entry-function-missing")
def check(ctx: Context) -> Iterator[Finding]:
    found = _missing(ctx)
    if found is None:
        return
    what, line = found
    script = batch.config(ctx).get("entry_script", "the entry script")
    yield Finding(
        code="batch-entry-function-missing",
        severity="error",
        message=f"the batch entry script does not define {what}, so no mini-batch can run",
        evidence=[line, f"entry script: {script}"],
        fix=f"define both at module level in {script}: `def init():` (called once per worker; load the "
        "model into a global there) and `def run(mini_batch):` (called per mini-batch; return one "
        "result per input, as a list or a pandas DataFrame)",
        confidence="high",
    )
