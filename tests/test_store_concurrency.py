"""Many writers, crashes mid-capture: the store only ever holds whole captures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from replay.store import LocalStore
from tests.conftest import run_replay


def test_sixteen_concurrent_capturing_processes(tmp_path, write_script, clean_env, store_dir):
    data = tmp_path / "shared.csv"
    data.write_text("a,b\n" + "1,2\n" * 5000)
    folder = tmp_path / "parts"  # enough files for each process to pack them
    folder.mkdir()
    for i in range(40):
        (folder / f"part-{i}.csv").write_text(f"a,b\n{i},{i}\n")
    script = write_script("step.py", """
        import sys
        open(sys.argv[1]).read()
        raise RuntimeError(f"worker {sys.argv[2]}")
    """)
    procs = [
        subprocess.Popen([sys.executable, "-m", "replay", "capture", "--", "python", str(script),
                          str(data), str(i), str(folder)], env=clean_env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(16)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [1] * 16, [e for _, e in outs]
    store = LocalStore(store_dir)
    ids = store.ids()
    assert len(ids) == 16
    messages = sorted(store.load(i).failure.message for i in ids)
    assert messages == sorted(f"worker {i}" for i in range(16))
    assert all(store.verify(i) == [] for i in ids)
    assert all(len(store.load(i).inputs) == 2 for i in ids)
    assert list((store_dir / "packs").iterdir())
    assert len(store.list()) == 16
    assert not [p for p in store.tmp_dir.iterdir()]


def test_kill_during_capture_leaves_no_partial_capture(tmp_path, write_script, clean_env, store_dir):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.write(os.urandom(1 << 20) * 600)
    script = write_script("step.py", "import sys\nopen(sys.argv[1], 'rb').close()\nraise ValueError\n")
    proc = subprocess.Popen([sys.executable, "-m", "replay", "capture", "--", "python", str(script),
                             str(big)], env=clean_env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    tmp = store_dir / "tmp"
    while time.monotonic() < deadline:
        if tmp.is_dir() and any(tmp.iterdir()):
            break
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = LocalStore(store_dir)
    assert store.ids() == []
    assert run_replay(["ls", "--json"], clean_env).stdout.strip() == "[]"
    # The next capture into the same store is unaffected.
    result = run_replay(["capture", "--max-file-bytes", "1MB", "--", "python", str(script), str(big)],
                        clean_env, cwd=tmp_path)
    assert result.returncode == 1
    (capture_id,) = store.ids()
    assert store.verify(capture_id) == []
