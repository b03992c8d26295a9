"""The agent's threads: started at once, waited for with a deadline, never through
`threading`."""

from __future__ import annotations

import subprocess
import sys
import time
from _thread import allocate_lock

from replay.threads import Worker


def test_join_says_whether_the_work_ended_within_the_deadline() -> None:
    gate = allocate_lock()
    gate.acquire()
    done: list[str] = []

    def work() -> None:
        with gate:
            done.append("done")

    worker = Worker(work)
    started = time.monotonic()
    assert worker.join(0.05) is False
    assert time.monotonic() - started >= 0.04
    assert done == []
    gate.release()
    assert worker.join(5) is True
    assert done == ["done"]
    assert worker.join(0) is True  # and stays joinable


def test_work_that_raises_is_reported_and_still_lets_the_waiter_go(monkeypatch) -> None:
    reported: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: reported.append(report.exc_value))

    def work() -> None:
        raise ValueError("boom")

    assert Worker(work).join(5) is True
    deadline = time.monotonic() + 5  # the report comes as the thread unwinds
    while not reported and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [str(exc) for exc in reported] == ["boom"]


def test_the_process_s_main_thread_stays_the_main_thread() -> None:
    """A first `threading` import on a thread of `_thread`'s would take that thread for
    the main one; workers never import it, so a step importing it later is right."""
    code = (
        "from replay.threads import Worker\n"
        "w = Worker(lambda: None); assert w.join(5)\n"
        "import sys; assert 'threading' not in sys.modules\n"
        "import threading; print(threading.main_thread() is threading.current_thread())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_a_finished_worker_says_so_even_with_its_lock_left_taken() -> None:
    """A KeyboardInterrupt between `join` taking the lock and giving it back leaves the
    lock taken; the next `join` must still see the work as done."""
    worker = Worker(lambda: None)
    assert worker.join(5)
    worker._done.acquire()  # as that interrupt leaves it
    assert worker.join(0.01) is True
