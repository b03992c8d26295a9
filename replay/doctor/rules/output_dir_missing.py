"""A write under an output folder failed because nothing created the folder.

Pipelines hand a step the path of its output folder (PipelineData,
OutputFileDatasetConfig) but do not create it; the step must. The capture records, for
each output argument, whether it existed when the step started, and every file opened
for writing. The failure names what was missing in one of two ways: Python's
`No such file or directory: 'out/total.txt'` (a write when that path was opened for
writing) or pandas' `Cannot save file into a non-existent directory: 'out'` (always a
write). A missing folder at or under an output argument is this pattern; under an output
that did exist it is a sub-folder the step forgot to create.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from replay.bundle import Output
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule

_PANDAS_NO_FOLDER = re.compile(r"Cannot save file into a non-existent directory: ('(?:[^'\\]|\\.)*')")


@dataclass(frozen=True)
class FailedWrite:
    named: str
    """The path as the error names it (maybe relative)."""
    folder: str
    """The absolute folder that did not exist."""
    writing: bool
    """Known to be a write, not a read of a missing file."""
    opened: bool = False
    """The agent saw the path opened for writing (rather than the message saying so)."""


def _failed_write(ctx: Context) -> FailedWrite | None:
    cwd = ctx.manifest.step.cwd
    for _, message in ctx.failure_chain:
        match = _PANDAS_NO_FOLDER.search(message)
        if match:
            folder = ast.literal_eval(match.group(1))
            return FailedWrite(folder, os.path.normpath(os.path.join(cwd, folder)), True)
    missing = ctx.missing_file()
    if missing is None:
        return None
    target = os.path.normpath(os.path.join(cwd, missing))
    writes = ctx.extra_dict("writes")
    opened = missing in writes or target in writes
    return FailedWrite(missing, os.path.dirname(target), opened, opened)


def _at_or_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _option_for(argv: list[str], cwd: str, path: str) -> str | None:
    """The command-line option that handed the step `path` (`--output-dir`), if any."""
    option = None
    for token in argv[1:]:
        name, sep, value = token.partition("=")
        if token.startswith("-") and not sep:
            option = token
            continue
        if token.startswith("-"):
            option, token = name, value
        if option and os.path.normpath(os.path.join(cwd, token)) == path:
            return option
        option = None
    return None


def _makedirs_call(ctx: Context, output: Output, failed: FailedWrite) -> str:
    """`os.makedirs(args.output_dir, exist_ok=True)` for the output itself, else the
    folder of the path being written."""
    if failed.folder != output.path:
        return f"os.makedirs(os.path.dirname(path), exist_ok=True)  # path = {failed.named!r}"
    option = _option_for(ctx.manifest.step.argv, ctx.manifest.step.cwd, output.path)
    if option is None:
        return f"os.makedirs({output.path!r}, exist_ok=True)"
    dest = option.lstrip("-").replace("-", "_")
    return f"os.makedirs(args.{dest}, exist_ok=True)  # the folder given by {option}"


@rule("output-dir-missing")
def check(ctx: Context) -> Iterator[Finding]:
    failed = _failed_write(ctx)
    if failed is None:
        return
    output = next((o for o in ctx.manifest.outputs if _at_or_under(failed.folder, o.path)), None)
    if output is None or (output.existed_at_start and not failed.writing):
        return
    evidence = ctx.failure_evidence()
    evidence.append(
        f"output {output.path}: existed at start: {'yes' if output.existed_at_start else 'no'}, "
        f"at end: {'yes' if output.existed_at_end else 'no'}"
    )
    if failed.opened:
        evidence.append(f"opened for writing: {failed.named}")
    if output.existed_at_start:
        message = f"the step wrote into {failed.folder}, a folder under its output {output.path} that did not exist"
    else:
        message = (f"the step wrote into its output folder {output.path}, which did not exist "
                   "(the pipeline hands the path over but does not create the folder)")
    where = f" at {ctx.site_where()}" if ctx.site_where() else ""
    yield Finding(
        code="output-dir-missing",
        severity="error",
        message=message,
        evidence=evidence,
        fix=f"create {failed.folder} before the first write{where}: {_makedirs_call(ctx, output, failed)}",
        confidence="high" if failed.writing else "medium",
    )
