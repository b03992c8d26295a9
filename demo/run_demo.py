"""The newcomer's tour: a pipeline step fails, `replay` captures it, and you look inside.

Run by `make demo`. It writes a small scoring step and its CSV input under
demo/work/, runs the step under `replay capture` exactly as a remote job would,
then shows what was captured. Everything stays under demo/work/ (the store too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

WORK = Path(__file__).resolve().parent / "work"

STEP = '''\
"""Score yesterday's transactions: one pipeline step, as it runs on remote compute."""
import argparse
import csv
import logging
import os

log = logging.getLogger("score")
FX = {"EUR": 1.08, "USD": 1.0, "GBP": 1.27}


def to_usd(row):
    return float(row["amount"]) * FX[row["currency"]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", required=True)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    os.makedirs(args.output_dir, exist_ok=True)
    total = 0.0
    with open(args.transactions, newline="") as f:
        for row_id, row in enumerate(csv.DictReader(f)):
            total += to_usd(row)
    log.info("scored %d rows", row_id + 1)
    with open(os.path.join(args.output_dir, "total.txt"), "w") as out:
        out.write(f"{total:.2f}\\n")


if __name__ == "__main__":
    main()
'''


def write_step() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    (WORK / "step").mkdir(parents=True)
    (WORK / "data").mkdir()
    (WORK / "step" / "score.py").write_text(STEP)
    rows = ["id,amount,currency"] + [
        f"{i},{10 + i % 7}.50,{'CHF' if i == 41 else ('EUR', 'USD', 'GBP')[i % 3]}" for i in range(200)
    ]
    (WORK / "data" / "transactions.csv").write_text("\n".join(rows) + "\n")


def sh(title: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"\n\033[1m$ {title}\033[0m", flush=True)
    env = {**os.environ, "REPLAY_STORE": str(WORK / ".replay")}
    result = subprocess.run(args, cwd=WORK, env=env, text=True, capture_output=True)
    sys.stdout.write(textwrap.indent(result.stdout, "  "))
    sys.stdout.write(textwrap.indent(result.stderr, "  "))
    if check and result.returncode not in (0,):
        raise SystemExit(f"demo step failed unexpectedly: {title}")
    return result


def main() -> int:
    write_step()
    replay = [sys.executable, "-m", "replay"]
    print("A pipeline step fails on row 41 of 200 (a currency it has no rate for).")
    print("On remote compute it runs under the capture agent:")
    run = sh(
        "replay capture -- python step/score.py --transactions data/transactions.csv --output-dir out",
        *replay, "capture", "--", "python", "step/score.py",
        "--transactions", "data/transactions.csv", "--output-dir", "out", check=False,
    )
    if run.returncode != 1 or "replay: captured" not in run.stderr:
        raise SystemExit("demo: expected the step to fail with exit 1 and be captured")
    capture_id = run.stderr.split("replay: captured ", 1)[1].split()[0]
    print(f"\nThe step kept its own exit status ({run.returncode}) and traceback; the capture is {capture_id}.")
    short = capture_id[:6]
    sh("replay ls", *replay, "ls")
    sh(f"replay show {short}", *replay, "show", short)
    print("\nDoes the failure match a known pattern?")
    sh(f"replay doctor {short}", *replay, "doctor", short)

    print("\nOn the laptop, the step is rebuilt from the capture alone (the data is gone):")
    (WORK / "data" / "transactions.csv").unlink()
    again = sh(f"replay run {short}", *replay, "run", short, check=False)
    if "verdict: reproduced" not in again.stderr:
        raise SystemExit("demo: expected the replay to reproduce the failure")
    fixed = WORK / "fixed"
    fixed.mkdir()
    (fixed / "score.py").write_text(STEP.replace('FX = {"EUR"', 'FX = {"CHF": 1.13, "EUR"'))
    print("\nA fix in a working copy, verified against the captured inputs:")
    verified = sh(f"replay run {short} --source fixed", *replay, "run", short, "--source", "fixed",
                  check=False)
    if "verdict: passed" not in verified.stderr:
        raise SystemExit("demo: expected the fixed copy to pass")
    print(f"\nTo debug it: replay run {short} --attach, then 'replay tui --attach 127.0.0.1:5678'"
          " or VS Code's \"Replay: attach\" (vscode/launch.json).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
