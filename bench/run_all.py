"""Run every benchmark in bench/, one after another (they share 2 cores badly).

Run: python bench/run_all.py [--quick]    (the --quick flag is passed to each)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    failed = 0
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n== {script.name}", flush=True)
        failed |= subprocess.run([sys.executable, str(script), *sys.argv[1:]]).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
