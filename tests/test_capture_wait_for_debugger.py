"""`replay capture --wait-for-debugger`: the failed process waits, post-mortem, on loopback."""

from __future__ import annotations

from replay.dap import attach
from replay.store import LocalStore
from tests.waiting_step import start_waiting, waiting_port


def test_a_client_sees_the_raising_frame_then_the_status_is_kept(tmp_path, clean_env, store_dir):
    proc = start_waiting(tmp_path, clean_env, 60)
    try:
        port = waiting_port(proc)
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
    proc = start_waiting(tmp_path, clean_env, 1)
    try:
        waiting_port(proc)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
        assert "no debugger attached in time" in rest
    finally:
        proc.kill()
