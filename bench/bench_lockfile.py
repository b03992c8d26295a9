"""Environment lockfile: `replay.lockfile` against `pip freeze` on one environment.

Each round runs, as fresh subprocesses of the interpreter under test and in turn:
  pip freeze       python -m pip freeze
  replay lockfile  scan + write pylock.toml and requirements.txt (what the agent does)
  importlib loop   importlib.metadata.distributions(): name, version, INSTALLER,
                   direct_url.json (the obvious way, for comparison)
  uv pip freeze    when uv is on PATH (for comparison)
Rounds are interleaved so a noisy neighbour hits every command alike; the ratio is the
median of the per-round ratios. The in-process times (measured inside the replay
subprocess) are the cost inside a failing job, whose interpreter is already running.
Target: pip freeze / replay lockfile >= 5.

    python bench/bench_lockfile.py [--rounds 9 | --quick] [--python PY]

`--python` measures another interpreter's environment (replay is put on its path).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 5.0
REPO = Path(__file__).resolve().parents[1]

REPLAY_SNIPPET = """
import sys, time
begin = time.perf_counter()
from replay import lockfile
start = time.perf_counter()
dists = lockfile.scan()
scanned = time.perf_counter()
with open(sys.argv[1] + "/pylock.toml", "w") as f:
    f.write(lockfile.to_pylock(dists, lockfile.python_info()))
with open(sys.argv[1] + "/requirements.txt", "w") as f:
    f.write(lockfile.to_requirements(dists))
print(start - begin, scanned - start, time.perf_counter() - start, len(dists))
"""

IMPORTLIB_SNIPPET = """
import importlib.metadata as md
seen = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if name and name.lower() not in seen:
        seen[name.lower()] = (d.version, d.read_text("INSTALLER"), d.read_text("direct_url.json"))
"""


def commands(python: str, out_dir: str) -> dict[str, list[str]]:
    found = {
        "pip freeze": [python, "-m", "pip", "freeze", "--disable-pip-version-check"],
        "replay lockfile": [python, "-c", REPLAY_SNIPPET, out_dir],
        "importlib loop": [python, "-c", IMPORTLIB_SNIPPET],
    }
    uv = shutil.which("uv")
    if uv:
        found["uv pip freeze"] = [uv, "pip", "freeze", "--python", python]
    return found


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    return time.perf_counter() - start, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="3 rounds (bench/run_all.py --quick)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 3
    # Installed packages run from .pyc files; let the warm-up write replay's (an editable
    # checkout here) instead of compiling it on every run, as PYTHONDONTWRITEBYTECODE would.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if args.python != sys.executable:  # appended: a folder without metadata changes nothing
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(REPO)]))
    times: dict[str, list[float]] = {}
    inside: list[list[float]] = []
    with tempfile.TemporaryDirectory() as out_dir:
        cmds = commands(args.python, out_dir)
        for cmd in cmds.values():  # warm the page cache and .pyc files once
            timed(cmd, env)
        for _ in range(args.rounds):
            for name, cmd in cmds.items():
                elapsed, out = timed(cmd, env)
                times.setdefault(name, []).append(elapsed)
                if name == "replay lockfile":
                    inside.append([float(x) for x in out.split()])
        written = sorted(p.name for p in Path(out_dir).iterdir())

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.1f} ms"

    count = int(inside[0][3])
    print(
        f"environment of {args.python}: {count} distributions;"
        f" {args.rounds} interleaved rounds, medians"
    )
    for name, values in times.items():
        print(f"  {name:<16} {ms(values):>10}  (subprocess)")
    print(
        f"  replay in-process: import {ms([i[0] for i in inside])},"
        f" scan {ms([i[1] for i in inside])},"
        f" scan + pylock + requirements {ms([i[2] for i in inside])} ({', '.join(written)})"
    )
    met = True
    for other in ("pip freeze", "importlib loop"):
        pairs = zip(times[other], times["replay lockfile"], strict=True)
        ratio = statistics.median(o / r for o, r in pairs)
        target = f" (target >= {TARGET:.0f}x: {'met' if ratio >= TARGET else 'MISSED'})"
        print(f"{other} / replay lockfile = {ratio:.1f}x{target if other == 'pip freeze' else ''}")
        met = met and (other != "pip freeze" or ratio >= TARGET)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
