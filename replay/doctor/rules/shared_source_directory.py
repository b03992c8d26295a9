"""Several steps share one source folder, so a change to any step reruns all of them.

A pipeline step is reused only while its source folder is unchanged; steps that share
one folder invalidate each other. The capture hashes the source folder, so two step
names with one source hash in the store is this pattern. It needs the store (the other
captures) and is a design warning, not the cause of the failure.
"""

from __future__ import annotations

from collections.abc import Iterator

from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule


@rule("shared-source-directory")
def check(ctx: Context) -> Iterator[Finding]:
    m = ctx.manifest
    source_hash = str(m.extra.get("source_hash") or "")
    if not source_hash or not m.step.sources:
        return
    others: dict[str, str] = {}
    for row in ctx.other_captures:
        if row.get("source_hash") == source_hash and row.get("step") != m.step.name:
            others.setdefault(str(row.get("step")), str(row.get("id")))
    if not others:
        return
    names = sorted([m.step.name, *others])
    yield Finding(
        code="shared-source-directory",
        severity="info",
        message=f"steps {', '.join(names)} share one source folder (same source hash), "
        "so a change to any of them reruns all of them",
        evidence=[
            f"source hash {source_hash[:12]} of {m.step.source_root} ({len(m.step.sources)} files)",
            f"step {m.step.name}: capture {m.id}",
            *(f"step {name}: capture {capture}" for name, capture in sorted(others.items())),
        ],
        fix="give each step its own source_directory holding only the files it needs "
        f"(e.g. {', '.join(f'steps/{n}/' for n in names[:3])}), so editing one step's code "
        "leaves the others reusable",
        confidence="high",
    )
