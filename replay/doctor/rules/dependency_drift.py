"""A failure in a package whose version is not the one the project declares or uses here.

Remote environments drift from the laptop the step was tested on: a package is missing,
newer or older. Two comparisons are made for each package the failure implicates (named
by an import-style error, or owning code the failure went through below the user's
frame): the job's version against the project's declared requirements (kept in the
captured source), and against this environment (`replay.envdiff`). The fix names the
pin that makes the job run the intended version.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping

from replay.bundle import Frame
from replay.doctor.context import Context, short_type
from replay.doctor.declared import Declared, declared_requirements
from replay.doctor.finding import Confidence, Finding
from replay.doctor.registry import rule

IMPORT_FAMILY = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})
_MODULE_NAMED = (
    re.compile(r"No module named '([^']+)'"),
    re.compile(r"cannot import name '[^']+' from '([^']+)'"),
    re.compile(r"module '([^']+)' has no attribute"),
)
_LOCAL_KINDS = frozenset({"version", "extra"})
"""Drifts that are about versions: another version here, or installed here only."""
MAX_PACKAGES = 3


def _named_modules(ctx: Context) -> list[str]:
    """Top-level modules that import-style errors in the chain name."""
    found = []
    for kind, message in ctx.failure_chain:
        if short_type(kind) in IMPORT_FAMILY:
            for pattern in _MODULE_NAMED:
                match = pattern.search(message)
                if match:
                    found.append(match.group(1).split(".")[0])
    return found


def _owned_frames(ctx: Context, owners: Mapping[str, str]) -> list[tuple[Frame, str]]:
    """Frames below the user's frame (where the failure went inside a package), innermost
    first, each with the distribution whose code it ran."""
    from replay import envdiff

    failure = ctx.manifest.failure
    if failure is None:
        return []
    below = failure.frames[(failure.site + 1) if failure.site is not None else 0 :]
    found = []
    for frame in reversed(below):
        alone = ctx.manifest.model_copy(update={"failure": failure.model_copy(update={"frames": [frame]})})
        for name in envdiff.traceback_distributions(alone, owners):
            found.append((frame, name))
    return found


def _implicated(ctx: Context, owners: Mapping[str, str], owned: list[tuple[Frame, str]]) -> list[str]:
    """Distributions the failure points at: named by the error, then the ones whose code
    ran below the user's frame, innermost first."""
    from replay.lockfile import normalize

    names = [normalize(owners.get(module, module)) for module in _named_modules(ctx)]
    names += [name for _, name in owned]
    return list(dict.fromkeys(names))[:MAX_PACKAGES]


def _pin(name: str, decl: Declared | None, local: str | None) -> str:
    """The requirement line that fixes the drift: the declared pin, else the version that
    runs here (when the declaration allows it), else the declared range."""
    if decl is not None:
        exact = decl.exact()
        if exact:
            return f"{name}=={exact}"
        if local and decl.allows(local):
            return f"{name}=={local}"
        return f"{name}{decl.specifier}"
    return f"{name}=={local}"


@rule("dependency-drift")
def check(ctx: Context) -> Iterator[Finding]:
    if ctx.manifest.failure is None:
        return
    from replay import envdiff, lockfile

    if not ctx.manifest.environment.distributions:
        return  # the job's packages were not recorded: any comparison would be a guess
    owners = lockfile.module_owners()
    owned = _owned_frames(ctx, owners)
    names = _implicated(ctx, owners, owned)
    if not names:
        return
    captured = {lockfile.normalize(d.name): d.version for d in ctx.manifest.environment.distributions}
    declared = declared_requirements(ctx)
    drifts = {d.name: d for d in envdiff.diff(ctx.manifest, owners=owners) if d.kind in _LOCAL_KINDS}
    ran = {name for _, name in owned}
    import_error = bool(ctx.failure_types() & IMPORT_FAMILY)
    for name in names:
        remote = captured.get(name)
        if remote is None and name in ran:
            continue  # its code ran in the job but its version was not recorded: unknown
        drift = drifts.get(name)
        local = drift.current.split()[0] if drift and drift.current else remote
        broken = [d for d in declared.get(name, []) if not d.allows(remote)]
        if not broken and drift is None:
            continue
        job = f"{name} {remote}" if remote else f"no {name}"
        confidence: Confidence
        if broken:
            decl: Declared | None = broken[0]
            message = f"the job ran {job} but {broken[0].file} declares {broken[0].line}"
            confidence = "high" if import_error else "medium"
        else:
            decl = None
            message = f"the job ran {job} but this environment has {name} {local}"
            confidence = "medium" if import_error else "low"
        evidence = ctx.failure_evidence()
        evidence.append(f"job: {name} {remote or '(not installed)'}")
        if drift is not None:
            evidence.append(f"here: {name} {drift.current or '(not installed)'}")
        evidence += [f"{d.file}: {d.line}" for d in declared.get(name, [])]
        inside = next((frame for frame, owner in owned if owner == name), None)
        if inside is not None:
            evidence.append(f"in {name}: {os.path.basename(inside.file)}:{inside.line} in {inside.function}")
        pin = _pin(name, decl, local)
        yield Finding(
            code="dependency-drift",
            severity="error" if import_error else "warning",
            message=message,
            evidence=evidence,
            fix=f"pin {pin} in the job's environment (its requirements or conda file) and rebuild it; "
            f"to debug with the job's versions here: replay env create {ctx.manifest.id} --venv .venv-job",
            confidence=confidence,
        )

