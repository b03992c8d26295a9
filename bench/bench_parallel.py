"""Side-by-side benchmarks for `replay parallel run`; prints ratios (targets in brackets).

(a) Runner overhead: a trivial run() over 20,000 small files (10 per mini-batch) with 2
    worker processes, end to end (listing, planning, workers, init, output file), against
    a hand-written `multiprocessing.Pool` (spawn, 2 processes) that lists the same files,
    makes the same mini-batches, calls the same init()/run() and writes the same lines.
    Target: replay's throughput >= 0.8x the Pool's.
(b) Tabular partitioning: a 1 GiB CSV cut into 1MB mini-batches and every mini-batch
    read as a DataFrame (what the workers do, here in one process), against
    `pandas.read_csv(chunksize=rows in ~1MB)` over the same file. Target: throughput
    >= 0.7x pandas', and peak memory above the interpreter's under 10x the mini-batch.
    Each side runs in its own fresh process so its peak RSS is its own.

Both sides run with bytecode caching, as an installed package would: this repository's
environment sets PYTHONDONTWRITEBYTECODE, which would make every worker recompile
replay's modules at start-up, so the benchmark points PYTHONPYCACHEPREFIX at a private
temporary folder (nothing is written into the source tree).

    .venv/bin/python bench/bench_parallel.py            # full size (takes a few minutes)
    .venv/bin/python bench/bench_parallel.py --quick    # 4,000 files, 64 MiB CSV
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

TRIVIAL_SCRIPT = '''
import os

def init():
    global PREFIX
    PREFIX = "seen"

def run(mini_batch):
    return [PREFIX + " " + os.path.basename(p) for p in mini_batch]
'''


# --------------------------------------------------------------------------- (a)


def _load_script(path: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("trivial_entry", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_POOL_MODULE = None


def _pool_init(path: str) -> None:
    global _POOL_MODULE
    _POOL_MODULE = _load_script(path)
    _POOL_MODULE.init()


def _pool_call(batch: list[str]) -> str:
    result = _POOL_MODULE.run(batch)  # type: ignore[union-attr]
    return "\n".join(str(x) for x in result) + "\n"


def pool_run(script: Path, data: Path, out: Path, processes: int, per_batch: int) -> float:
    import multiprocessing

    started = time.perf_counter()
    files = sorted(str(p) for p in data.iterdir())
    batches = [files[i : i + per_batch] for i in range(0, len(files), per_batch)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes, initializer=_pool_init, initargs=(str(script),)) as pool:
        texts = pool.map(_pool_call, batches)
    out.write_text("".join(texts))
    return time.perf_counter() - started


def replay_run(script: Path, data: Path, out: Path, processes: int, per_batch: int) -> float:
    sys.path.insert(0, str(REPO))
    from replay.parallel import ParallelRunConfig, run_parallel

    started = time.perf_counter()
    result = run_parallel(ParallelRunConfig(
        entry_script=str(script), inputs=[str(data)], error_threshold=0,
        output_action="append_row", mini_batch_size=per_batch,
        process_count_per_node=processes, output=str(out), run_invocation_timeout=600,
    ), progress=False)
    elapsed = time.perf_counter() - started
    assert result.status == "succeeded", result.message
    return elapsed


def bench_overhead(n_files: int, reps: int, tmp: Path) -> dict[str, float]:
    data = tmp / "files"
    data.mkdir()
    for i in range(n_files):
        (data / f"f{i:06d}.txt").write_bytes(b"x")
    script = tmp / "trivial.py"
    script.write_text(TRIVIAL_SCRIPT)
    pool_times, replay_times = [], []
    for rep in range(reps):
        pool_out = tmp / f"pool-{rep}.txt"
        pool_times.append(pool_run(script, data, pool_out, 2, 10))
        replay_out = tmp / f"replay-{rep}"
        replay_times.append(replay_run(script, data, replay_out, 2, 10))
        same = (replay_out / "parallel_run_step.txt").read_bytes() == pool_out.read_bytes()
        assert same, "replay and the Pool wrote different lines"
    pool_t, replay_t = statistics.median(pool_times), statistics.median(replay_times)
    return {
        "files": n_files,
        "pool_seconds": pool_t,
        "replay_seconds": replay_t,
        "pool_files_per_s": n_files / pool_t,
        "replay_files_per_s": n_files / replay_t,
        "ratio": pool_t / replay_t,
        "reps": reps,
    }


# --------------------------------------------------------------------------- (b)


def make_csv(path: Path, size: int) -> int:
    """A CSV of about `size` bytes (numbers and short strings); returns bytes per row."""
    import random

    rng = random.Random(0)
    header = "id,user,score,amount,count,flag,city\n"
    rows = []
    for i in range(20000):
        rows.append(
            f"{i},user{rng.randrange(100000)},{rng.random():.6f},{rng.uniform(-1e4, 1e4):.2f},"
            f"{rng.randrange(1000)},{rng.choice(('true', 'false'))},{rng.choice(('Paris', 'Oslo', 'Lima', 'Kyiv'))}\n"
        )
    block = "".join(rows).encode()
    with open(path, "wb") as f:
        f.write(header.encode())
        written = len(header)
        while written < size:
            f.write(block)
            written += len(block)
    return max(1, len(block) // len(rows))


def _rss() -> tuple[int, int]:
    """(current, peak) resident set size of this process, in bytes."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def child(mode: str, path: str, size: int, rows_per_chunk: int) -> None:
    """One measured side of (b), in a fresh process; prints one JSON line."""
    import pandas as pd

    sys.path.insert(0, str(REPO))
    from replay.parallel.batching import plan_tabular, read_tabular
    from replay.parallel.config import InputFile

    # warm the parser once on a tiny frame so both sides start from the same baseline
    pd.read_csv(__import__("io").StringIO("a,b\n1,x\n"))
    import resource

    baseline, _ = _rss()
    rows = batches = 0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    plan_seconds = 0.0
    if mode == "pandas":
        for chunk in pd.read_csv(path, chunksize=rows_per_chunk):
            rows += len(chunk)
            batches += 1
    else:
        t0 = time.perf_counter()
        planned = list(plan_tabular([InputFile(path, path, "csv")], size))
        plan_seconds = time.perf_counter() - t0
        for batch in planned:
            rows += len(read_tabular(batch))
            batches += 1
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    _, peak = _rss()
    print(json.dumps({"mode": mode, "seconds": seconds, "cpu_seconds": cpu, "plan_seconds": plan_seconds, "rows": rows,
                      "batches": batches, "baseline_rss": baseline, "peak_rss": peak}))


def run_child(mode: str, path: Path, size: int, rows_per_chunk: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path), str(size), str(rows_per_chunk)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_csv(csv_bytes: int, reps: int, tmp: Path) -> dict[str, float]:
    path = tmp / "big.csv"
    row_bytes = make_csv(path, csv_bytes)
    size = 1 * MB
    rows_per_chunk = max(1, size // row_bytes)
    real_size = path.stat().st_size
    runs: dict[str, list[dict[str, float]]] = {"pandas": [], "replay": []}
    for _ in range(reps):  # interleaved, so a busy moment of the machine hits both sides
        for mode in runs:
            runs[mode].append(run_child(mode, path, size, rows_per_chunk))
    pandas_rows = {r["rows"] for r in runs["pandas"]}
    replay_rows = {r["rows"] for r in runs["replay"]}
    assert pandas_rows == replay_rows and len(pandas_rows) == 1, (pandas_rows, replay_rows)
    path.unlink()
    pandas_s = statistics.median(r["seconds"] for r in runs["pandas"])
    replay_s = statistics.median(r["seconds"] for r in runs["replay"])
    pandas_cpu = statistics.median(r["cpu_seconds"] for r in runs["pandas"])
    replay_cpu = statistics.median(r["cpu_seconds"] for r in runs["replay"])

    def peak(mode: str) -> float:
        return max(r["peak_rss"] - r["baseline_rss"] for r in runs[mode]) / MB

    return {
        "csv_mib": real_size / MB,
        "pandas_seconds": pandas_s,
        "replay_seconds": replay_s,
        "replay_plan_seconds": statistics.median(r["plan_seconds"] for r in runs["replay"]),
        "pandas_mib_per_s": real_size / MB / pandas_s,
        "replay_mib_per_s": real_size / MB / replay_s,
        "ratio": pandas_s / replay_s,
        "pandas_cpu_seconds": pandas_cpu,
        "replay_cpu_seconds": replay_cpu,
        "cpu_ratio": pandas_cpu / replay_cpu,
        "mini_batches": runs["replay"][0]["batches"],
        "pandas_chunks": runs["pandas"][0]["batches"],
        "interpreter_mib": runs["replay"][0]["baseline_rss"] / MB,
        "replay_peak_over_interpreter_mib": peak("replay"),
        "pandas_peak_over_interpreter_mib": peak("pandas"),
        "memory_budget_mib": 10 * size / MB,
    }


def use_bytecode_cache(folder: Path) -> None:
    """Cache bytecode in `folder` for this process and every process it starts, and warm it."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(folder)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", "import replay.parallel.runner, replay.parallel.worker, "
                    "replay.parallel.batching, pandas"], check=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: 4,000 files, a 64 MiB CSV")
    parser.add_argument("--only", choices=("overhead", "csv"), help="run one benchmark")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each side; medians are kept")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, size, rows = args.child
        child(mode, path, int(size), int(rows))
        return 0
    n_files = 4000 if args.quick else 20000
    csv_bytes = (64 if args.quick else 1024) * MB
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="replay-bench-parallel-") as tmp_name:
        tmp = Path(tmp_name)
        use_bytecode_cache(tmp / "pycache")
        if args.only in (None, "overhead"):
            (tmp / "a").mkdir()
            results["overhead"] = bench_overhead(n_files, args.reps, tmp / "a")
            a = results["overhead"]
            print(f"(a) runner overhead, {a['files']:.0f} files, 2 processes: replay "
                  f"{a['replay_files_per_s']:.0f} files/s ({a['replay_seconds']:.2f}s) vs Pool "
                  f"{a['pool_files_per_s']:.0f} files/s ({a['pool_seconds']:.2f}s): "
                  f"ratio {a['ratio']:.2f} [>= 0.8] {'OK' if a['ratio'] >= 0.8 else 'BELOW TARGET'}")
        if args.only in (None, "csv"):
            (tmp / "b").mkdir()
            results["csv"] = bench_csv(csv_bytes, args.reps, tmp / "b")
            b = results["csv"]
            mem_ok = b["replay_peak_over_interpreter_mib"] < b["memory_budget_mib"]
            print(f"(b) CSV {b['csv_mib']:.0f} MiB into 1MB mini-batches: replay "
                  f"{b['replay_mib_per_s']:.0f} MiB/s (planning {b['replay_plan_seconds'] * 1000:.0f} ms, "
                  f"{b['mini_batches']:.0f} mini-batches) vs pandas chunksize {b['pandas_mib_per_s']:.0f} MiB/s: "
                  f"ratio {b['ratio']:.2f} [>= 0.7] {'OK' if b['ratio'] >= 0.7 else 'BELOW TARGET'}")
            print(f"    the same in CPU time (steadier on a shared machine): replay "
                  f"{b['replay_cpu_seconds']:.2f}s vs pandas {b['pandas_cpu_seconds']:.2f}s: "
                  f"ratio {b['cpu_ratio']:.2f}")
            print(f"    peak RSS above the interpreter ({b['interpreter_mib']:.0f} MiB): replay "
                  f"{b['replay_peak_over_interpreter_mib']:.1f} MiB, pandas "
                  f"{b['pandas_peak_over_interpreter_mib']:.1f} MiB [< {b['memory_budget_mib']:.0f} MiB] "
                  f"{'OK' if mem_ok else 'OVER BUDGET'}")
    print(json.dumps(results, indent=2))
    missed = ("overhead" in results and results["overhead"]["ratio"] < 0.8) or (
        "csv" in results and (results["csv"]["ratio"] < 0.7 or not mem_ok))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
