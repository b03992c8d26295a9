"""A path from the author's machine is written into the code and does not exist remotely.

`/Users/alice/...`, `C:\\...` or another user's home folder cannot exist on the job's
machine. When the tail of that path is a file of the captured source, the `__file__`
idiom finds it wherever the code runs; otherwise the path must come in as an argument or
an input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule

_WINDOWS = re.compile(r"^[A-Za-z]:[\\/]")
_MAC_HOME = re.compile(r"^/Users/[^/]+/")
_LINUX_HOME = re.compile(r"^/home/([^/]+)/")


def _foreign(path: str, home: str) -> str | None:
    """Why `path` belongs to another machine, or None when it may well be the job's own."""
    if _WINDOWS.match(path):
        return "a Windows path"
    if _MAC_HOME.match(path):
        return "a macOS home folder"
    match = _LINUX_HOME.match(path)
    if match and not home.startswith(f"/home/{match.group(1)}"):
        return f"the home folder of user {match.group(1)!r}, who is not the job's user"
    return None


def _source_tail(ctx: Context, path: str) -> str | None:
    """The longest tail of `path` that is a captured source file (`config/model.json`)."""
    parts = [p for p in re.split(r"[\\/]", path) if p]
    for start in range(1, len(parts)):
        tail = "/".join(parts[start:])
        if tail in ctx.source_files:
            return tail
    return None


@rule("local-path-baked-in")
def check(ctx: Context) -> Iterator[Finding]:
    missing = ctx.missing_file()
    if missing is None:
        return
    home = ctx.manifest.environment.variables.get("HOME", "")
    why = _foreign(missing, home)
    if why is None:
        return
    tail = _source_tail(ctx, missing)
    evidence = ctx.failure_evidence()
    evidence.append(f"{missing} is {why}; the job ran as HOME={home or '(unset)'} in {ctx.manifest.step.cwd}")
    if tail is not None:
        evidence.append(f"captured source has {tail}")
        fix = f"os.path.join(os.path.dirname(os.path.abspath(__file__)), {tail!r}) instead of {missing!r}"
    else:
        fix = ("take the path as an argument (argparse) and hand the data to the step as an input "
               f"(a dataset or a file in the source folder) instead of writing {missing!r} into the code")
    yield Finding(
        code="local-path-baked-in",
        severity="error",
        message=f"the code opens {missing}, a path from another machine ({why})",
        evidence=evidence,
        fix=fix,
        confidence="high" if tail is not None or not why.startswith("the home") else "medium",
    )
