"""A workspace-management call made from inside a remote job was refused.

Creating or attaching compute targets (and other workspace management) needs the
user's own credentials; the token a job runs with cannot do it, and the service answers
`401 ... InvalidOrExpiredToken` or `AuthenticationFailed`. The fix is to move the
call to the client that submits the pipeline. Storage's `AuthenticationFailed` (a bad
or expired SAS/key while reading data) reads alike but has another cause, so it is
left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule

# The service's error codes; the `401` that comes with them is often on another line.
_REFUSED = re.compile(r"InvalidOrExpiredToken|AuthenticationFailed")
_STORAGE = re.compile(r"Server failed to authenticate the request|blob\.core\.windows\.net|\bsig=|SharedKey")
_MANAGEMENT = re.compile(
    r"ComputeTarget|AmlCompute|ComputeInstance|compute_target|provisioning_configuration"
    r"|wait_for_completion|Workspace\.(create|get|from_config)|\.(attach|create|register)\("
)


def _management_calls(ctx: Context) -> list[str]:
    """Traceback frames whose code or function looks like workspace management."""
    return [
        f"{frame.file.rsplit('/', 1)[-1]}:{frame.line} in {frame.function}: {frame.code.strip()}"
        for frame in ctx.frames
        if _MANAGEMENT.search(frame.code) or _MANAGEMENT.search(frame.function)
    ]


@rule("management-operation-in-job")
def check(ctx: Context) -> Iterator[Finding]:
    refused = [m.string for m in ctx.grep(_REFUSED)]
    if not refused:
        return
    if any(_STORAGE.search(line) for line in ctx.lines):
        return
    calls = _management_calls(ctx)
    yield Finding(
        code="management-operation-in-job",
        severity="error",
        message="a workspace management call (compute target create/attach) ran inside the job, "
        "whose token may not manage the workspace",
        evidence=[*refused[:3], *calls[:3]],
        fix="create or attach compute targets (and other workspace management) in the script that "
        "submits the pipeline, then pass the target to the step (compute_target=...); the step "
        "itself should only use Run.get_context() and its inputs",
        confidence="high" if calls else "medium",
    )
