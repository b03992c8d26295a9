"""Repeated writes to a file on a network mount: each append re-uploads the whole file.

Outputs mounted from cloud storage (blobfuse and similar) upload a file again every time
it is written, so a log or metrics file appended to once per epoch makes a step slower
each epoch. The agent counts how often each file was opened for writing and on which
filesystem it lives; several opens of one file on a network filesystem is the pattern.
"""

from __future__ import annotations

from collections.abc import Iterator

from replay.capture.mounts import is_network_fs
from replay.doctor.context import Context
from replay.doctor.finding import Finding
from replay.doctor.registry import rule

MIN_OPENS = 5
"""Opens for writing of one file before it counts as repeated (a file written once, or
rewritten a couple of times, is normal)."""


def _repeated(ctx: Context) -> list[tuple[str, int, str]]:
    """(path, opens, filesystem) of files opened for writing repeatedly on a network mount."""
    found = []
    for path, info in ctx.extra_dict("writes").items():
        if not isinstance(info, dict):
            continue
        opens, fs = info.get("opens"), info.get("fs")
        if isinstance(opens, int) and opens >= MIN_OPENS and isinstance(fs, str) and is_network_fs(fs):
            found.append((path, opens, fs))
    return sorted(found, key=lambda item: -item[1])


@rule("network-mount-writes")
def check(ctx: Context) -> Iterator[Finding]:
    repeated = _repeated(ctx)
    if not repeated:
        return
    path, opens, fs = repeated[0]
    yield Finding(
        code="network-mount-writes",
        severity="warning",
        message=f"{path} was opened for writing {opens} times on a network mount ({fs}); "
        "each write uploads the file again, so the step slows down as it grows",
        evidence=[f"{p}: opened for writing {n} times, filesystem {f}" for p, n, f in repeated[:5]],
        fix="write outputs in upload mode, so files are uploaded once when the step ends: "
        "OutputFileDatasetConfig(...).as_upload(overwrite=True) instead of .as_mount(); or write "
        "to a local folder and copy the finished file to the output at the end",
        confidence="high",
    )
