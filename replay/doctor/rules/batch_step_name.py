"""A batch step name the platform refuses: 3 to 32 characters, `^[a-z]([-a-z0-9]*[a-z0-9])?$`.

The platform rejects the pipeline only after submission, so a capture whose step name
breaks the rule (or whose log shows the refusal) gets a valid name suggested. Only batch
steps are held to the rule: an ordinary script step's name is just its file name.
"""

from __future__ import annotations

from collections.abc import Iterator

from replay.doctor import batch
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule
from replay.parallel.config import (
    STEP_NAME_MAX,
    STEP_NAME_MIN,
    STEP_NAME_RE,
    STEP_NAME_RULE,
    default_step_name,
    is_valid_step_name,
)


def _refused(ctx: Context) -> tuple[str, str] | None:
    """(name, evidence line) of a step name outside the rule."""
    for match in ctx.grep(batch.STEP_NAME_REFUSED):
        return match.group(1), match.string
    name = ctx.manifest.step.name
    if ctx.manifest.kind == "minibatch" and not is_valid_step_name(name):
        return name, f"mini-batch capture of step {name!r}"
    return None


@rule("batch-step-name-invalid")
def check(ctx: Context) -> Iterator[Finding]:
    found = _refused(ctx)
    if found is None:
        return
    name, line = found
    suggestion = default_step_name(f"{name}.py")
    yield Finding(
        code="batch-step-name-invalid",
        severity="error",
        message=f"step name {name!r} breaks the platform's rule: {STEP_NAME_RULE}",
        evidence=[line, f"rule: {STEP_NAME_RE.pattern}, {STEP_NAME_MIN} to {STEP_NAME_MAX} characters"],
        fix=f"rename the step: ParallelRunStep(name={suggestion!r}, ...)",
        confidence="high",
    )
