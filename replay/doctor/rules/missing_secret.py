"""The step needed an environment variable (usually a secret) that the job did not have.

Secrets reach a remote job only if the job is configured to pass them; a step that
reads `os.environ["X"]` then fails with `KeyError: 'X'`. The capture records which
variables were set (secret values redacted), so a name the failure mentions can be
checked: absent from the job, or present but redacted (then a replay must be given it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from replay.doctor.context import Context, short_type
from replay.doctor.finding import Finding
from replay.doctor.registry import rule
from replay.redact import is_secret_name

_KEY_ERROR_NAME = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)'$")
# Only explicit talk of the environment ("environment variable", "os.environ", "env var"):
# "X is not set" is as often a configuration key, and `ENVIRON_X` in a KeyError is data.
_ENV_WORDS = re.compile(r"[Ee]nviron|\b[Ee]nv var")
_ENV_NAME = re.compile(r"\b([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])\b")


def _environ_key_error(ctx: Context) -> str | None:
    """The variable of a `KeyError` raised by `os.environ[...]`."""
    failure = ctx.manifest.failure
    if failure is None or short_type(failure.type) != "KeyError":
        return None
    match = _KEY_ERROR_NAME.match(failure.message.strip())
    if not match or not failure.frames:
        return None
    inner = failure.frames[-1]
    site = ctx.site()
    raised_by_environ = os.path.basename(inner.file) == "os.py" and inner.function == "__getitem__"
    if raised_by_environ or (site is not None and "environ[" in site.code):
        return match.group(1)
    return None


def _named_in_message(ctx: Context) -> list[str]:
    """UPPER_CASE names in a failure message that talks about environment variables."""
    names: list[str] = []
    for _, message in ctx.failure_chain:
        if _ENV_WORDS.search(message):
            names += [n for n in _ENV_NAME.findall(message) if n not in names]
    return names


@rule("missing-secret")
def check(ctx: Context) -> Iterator[Finding]:
    env = ctx.manifest.environment
    from_environ = _environ_key_error(ctx)
    candidates = [from_environ] if from_environ else _named_in_message(ctx)
    for name in candidates:
        what = "secret" if is_secret_name(name) else "environment variable"
        evidence = ctx.failure_evidence()
        if name not in env.variables:
            evidence.append(f"{name} is not among the job's {len(env.variables)} environment variables")
            yield Finding(
                code="missing-secret",
                severity="error",
                message=f"the step reads the {what} {name}, which was not set in the job",
                evidence=evidence,
                fix=f"pass {name} to the job: for a secret, store it in the workspace key vault and read it "
                f"in the step with Run.get_context().get_secret({name!r}); otherwise set it in the job's "
                f"environment variables (RunConfiguration.environment_variables[{name!r}] = ...)",
                confidence="high" if from_environ else "medium",
            )
        elif name in env.redacted:
            evidence.append(f"{name} was set in the job; its value is redacted from the capture")
            yield Finding(
                code="missing-secret",
                severity="warning",
                message=f"the failure names the {what} {name}, which the job had but the capture redacted",
                evidence=evidence,
                fix=f"check the value the job received for {name} (expired or wrong?); to replay, supply it: "
                f"replay run {ctx.manifest.id} --env {name}=...",
                confidence="medium",
            )
