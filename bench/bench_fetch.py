"""Fetch over SFTP, side by side with OpenSSH's `sftp`, against one loopback sshd.

Three cases, each timed alternately with its baseline (this disk slows down after mass
deletions, so back-to-back runs of one side would favour the other), medians printed:

1. one capture holding a 256 MiB input vs `sftp` of that same file   (target >= 0.5x
   OpenSSH's throughput);
2. one capture of 2,000 x 32 KiB inputs vs `sftp -r` of a folder of the same files
   (target >= 0.8x);
3. fetching an unchanged capture again vs fetching it the first time (target < 0.05x):
   by its id (the local store has it whole, so the server is not contacted) and as
   part of the whole store (connect, verify the host, log in, list `captures/`).

`replay.remote.transfer.fetch` runs in this process (it is a library call; the CLI adds
only Python's start-up), while `sftp` is a fresh process per run; both connect, check the
host key and authenticate every time. `--quick` shrinks the sizes for a smoke run.

    .venv/bin/python bench/bench_fetch.py [--quick] [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from replay.remote.options import SSHOptions
from replay.remote.transfer import fetch
from replay.store import LocalStore
from tests.sshd import SSHServer, make_capture, sshd_missing_reason, start_sshd

MiB = 1 << 20


def openssh_sftp(server: SSHServer, remote: Path, local: Path, recursive: bool = False) -> None:
    command = [
        "sftp",
        "-q",
        "-F",
        "/dev/null",
        "-P",
        str(server.port),
        "-i",
        str(server.client_key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"UserKnownHostsFile={server.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    if recursive:
        command.append("-r")
    subprocess.run(
        [*command, f"{server.user}@127.0.0.1:{remote}", str(local)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def timed(action: Callable[[], object], reset: Callable[[], object]) -> float:
    reset()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def alternate(
    runs: int, ours: Callable[[], float], theirs: Callable[[], float]
) -> tuple[float, float]:
    """Medians of `runs` alternating measurements of both sides."""
    mine, baseline = [], []
    for _ in range(runs):
        mine.append(ours())
        baseline.append(theirs())
    return statistics.median(mine), statistics.median(baseline)


def fresh(path: Path) -> Callable[[], None]:
    """Empty `path` before a run (not timed): every run starts from nothing."""

    def reset() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)

    return reset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--runs", type=int, default=None, help="measurements per side (default 5, quick 2)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    reason = sshd_missing_reason()
    if reason or shutil.which("sftp") is None:
        print(f"skipped: {reason or 'the OpenSSH sftp client is not installed'}", file=sys.stderr)
        return 0
    runs = args.runs or (2 if args.quick else 5)
    big_size = (32 if args.quick else 256) * MiB
    small_count = 200 if args.quick else 2000
    small_size = 32 * 1024

    work = Path(tempfile.mkdtemp(prefix="replay-bench-fetch-"))
    server = start_sshd(work / "sshd")
    try:
        options = SSHOptions(
            identities=(str(server.client_key),), known_hosts=str(server.known_hosts)
        )
        remote = LocalStore(work / "remote")
        url = server.url(remote.root)

        big_file = work / "big.bin"
        with open(big_file, "wb") as f:
            for _ in range(big_size // MiB):
                f.write(os.urandom(MiB))
        big = make_capture(remote, {"big.bin": big_file})
        small_dir = work / "small"
        small_dir.mkdir()
        for i in range(small_count):
            (small_dir / f"part-{i:05d}.bin").write_bytes(os.urandom(small_size))
        small = make_capture(remote, {p.name: p for p in sorted(small_dir.iterdir())})
        big_blob = remote.blob_path(big.blobs()[0][0])

        local = work / "local"
        sink = work / "sftp-out"

        def fetch_one(capture_id: str) -> Callable[[], float]:
            return lambda: timed(
                lambda: fetch(url, LocalStore(local), [capture_id], options=options), fresh(local)
            )

        big_ours, big_sftp = alternate(
            runs,
            fetch_one(big.id),
            lambda: timed(lambda: openssh_sftp(server, big_blob, sink / "big.bin"), fresh(sink)),
        )
        small_ours, small_sftp = alternate(
            runs,
            fetch_one(small.id),
            lambda: timed(
                lambda: openssh_sftp(server, small_dir, sink / "small", recursive=True), fresh(sink)
            ),
        )
        # Unchanged: by id (nothing to ask the server), and the whole store (connect, list).
        fresh(local)()
        for capture in (big, small):
            fetch(url, LocalStore(local), [capture.id], options=options)
        by_id = statistics.median(
            timed(lambda: fetch(url, LocalStore(local), [big.id], options=options), lambda: None)
            for _ in range(runs)
        )
        listed = statistics.median(
            timed(lambda: fetch(url, LocalStore(local), options=options), lambda: None)
            for _ in range(runs)
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    big_label = f"{big_size // MiB} MiB capture"
    rows = [
        row(big_label, big_ours, big_sftp, big_sftp / big_ours, ">=", 0.5),
        row(
            f"{small_count} x 32 KiB inputs",
            small_ours,
            small_sftp,
            small_sftp / small_ours,
            ">=",
            0.8,
        ),
        row("re-fetch by id, unchanged", by_id, big_ours, by_id / big_ours, "<", 0.05),
        row("re-fetch whole store, unchanged", listed, big_ours, listed / big_ours, "<", 0.05),
        row("  same, vs the small first fetch", listed, small_ours, listed / small_ours, "<", 0.05),
    ]
    print(f"fetch over SFTP, loopback sshd, medians of {runs} alternating runs")
    print(f"{'case':34} {'replay':>9} {'baseline':>9} {'ratio':>7}  target")
    for r in rows:
        verdict = "ok" if r["met"] else "MISSED"
        print(
            f"{r['case']:34} {r['replay_s']:8.3f}s {r['baseline_s']:8.3f}s {r['ratio']:6.3f}x"
            f"  {r['target']} {verdict}"
        )
    mine, theirs = big_size / MiB / big_ours, big_size / MiB / big_sftp
    print(f"  {big_label}: replay {mine:.0f} MiB/s, OpenSSH sftp {theirs:.0f} MiB/s")
    print("  baselines: OpenSSH sftp / sftp -r of the same bytes; for re-fetch, a first fetch")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["met"] for r in rows) else 1


def row(case: str, ours: float, base: float, ratio: float, op: str, limit: float) -> dict[str, Any]:
    """One line of results; `ratio` is checked against `op limit` (">=" or "<")."""
    met = ratio >= limit if op == ">=" else ratio < limit
    return {
        "case": case,
        "replay_s": ours,
        "baseline_s": base,
        "ratio": ratio,
        "target": f"{op} {limit}x",
        "met": met,
    }


if __name__ == "__main__":
    raise SystemExit(main())
