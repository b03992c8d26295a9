"""What every benchmark script shares: how a command is timed, the environment it runs
in, and how a target is judged. (Not a benchmark itself: `run_all.py` runs `bench_*.py`.)"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def bench_env() -> dict[str, str]:
    """The timed commands' environment: no inherited replay settings, and bytecode
    cached. This machine sets PYTHONDONTWRITEBYTECODE, which would make every `replay`
    process recompile `replay`; users' machines cache bytecode."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REPLAY_") and k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Seconds `cmd` takes, its output discarded."""
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"
