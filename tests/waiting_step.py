"""A step that fails dividing by zero, run under `replay capture --wait-for-debugger`,
for the tests that attach to the waiting process (directly, or through a tunnel)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

STEP = """
def divide(rows):
    for i, row in enumerate(rows):
        ratio = 10 / row
    return ratio

divide([5, 2, 0, 1])
"""


def start_waiting(folder: Path, env: dict[str, str], seconds: float) -> subprocess.Popen[str]:
    """`step.py` written in `folder` and run there, waiting `seconds` on a free port."""
    script = folder / "step.py"
    script.write_text(STEP)
    return subprocess.Popen(
        [sys.executable, "-m", "replay", "capture", "--wait-for-debugger", str(seconds),
         "--debug-port", "0", "--", "python", str(script)],
        env=env, cwd=folder, stderr=subprocess.PIPE, text=True,
    )


def waiting_port(proc: subprocess.Popen[str]) -> int:
    """The port the process says it waits on (read from its stderr)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"waiting [\d.]+ s for a debugger on 127\.0\.0\.1:(\d+)", proc.stderr.readline())
        if found:
            return int(found.group(1))
    raise AssertionError("the process never said where it waits")
