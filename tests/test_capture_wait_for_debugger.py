"""`replay capture --wait-for-debugger`: the failed process waits, post-mortem, on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from replay.dap import attach
from replay.store import LocalStore

STEP = """
def divide(rows):
    for i, row in enumerate(rows):
        ratio = 10 / row
    return ratio

divide([5, 2, 0, 1])
"""


def _start(tmp_path, env, seconds: float):
    script = tmp_path / "step.py"
    script.write_text(STEP)
    return subprocess.Popen(
        [sys.executable, "-m", "replay", "capture", "--wait-for-debugger", str(seconds),
         "--debug-port", "0", "--", "python", str(script)],
        env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )


def _port(proc) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"waiting [\d.]+ s for a debugger on 127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1))
    raise AssertionError("the process never said where it waits")


def test_a_client_sees_the_raising_frame_then_the_status_is_kept(tmp_path, clean_env, store_dir):
    proc = _start(tmp_path, clean_env, 60)
    try:
        port = _port(proc)
        assert LocalStore(store_dir).ids(), "the capture is written before waiting"
        with attach("127.0.0.1", port, exception_filters=()) as session:
            stop = session.wait_for_stop(timeout=30)
            assert stop.top.name == "divide"
            local = session.locals_of(stop.top.id)
            assert local["i"].value == "2" and local["row"].value == "0"
            info = session.client.exception_info(stop.thread_id)
            assert "ZeroDivisionError" in info.description or "division by zero" in info.description
            session.client.continue_(stop.thread_id)
        assert proc.wait(timeout=60) == 1
    finally:
        proc.kill()


def test_without_a_client_the_timeout_keeps_the_exit_status(tmp_path, clean_env):
    proc = _start(tmp_path, clean_env, 1)
    try:
        _port(proc)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
        assert "no debugger attached in time" in rest
    finally:
        proc.kill()
