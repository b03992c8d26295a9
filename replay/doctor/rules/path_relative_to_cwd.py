"""A file next to the script was opened by a path relative to the working directory.

`open("lookup.json")` finds the file only when the job starts in the script's folder;
remote jobs usually start elsewhere. The capture has both the working directory and the
source folder's files: a missing relative path that names a captured source file when
taken from the failing code's own folder is this pattern, and `__file__` fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule


@rule("path-relative-to-cwd")
def check(ctx: Context) -> Iterator[Finding]:
    missing = ctx.missing_file()
    site = ctx.site()
    step = ctx.manifest.step
    if missing is None or site is None or not step.source_root or os.path.isabs(missing):
        return
    code_dir = os.path.dirname(os.path.normpath(os.path.join(step.cwd, site.file)))
    beside = os.path.normpath(os.path.join(code_dir, missing))
    looked_at = os.path.normpath(os.path.join(step.cwd, missing))
    relative = os.path.relpath(beside, step.source_root)
    if beside == looked_at or relative not in ctx.source_files:
        return
    yield Finding(
        code="path-relative-to-cwd",
        severity="error",
        message=f"{missing!r} is read relative to the working directory ({step.cwd}), "
        f"but the file sits next to {os.path.basename(site.file)}",
        evidence=[
            *ctx.failure_evidence(),
            f"working directory {step.cwd}: looked for {looked_at}",
            f"captured source has {relative} (at {beside})",
        ],
        fix="build the path from the script's own folder: "
        f"os.path.join(os.path.dirname(os.path.abspath(__file__)), {missing!r})",
        confidence="high",
    )
