"""Subprocesses of a debuggee (a multiprocessing pool, DataLoader workers) under the TUI.

debugpy announces each one with `debugpyAttach` and holds it until a client attaches; a
client that ignores them leaves the pool hanging. The TUI follows each child as its own
session, shows it as a tab, and the program runs to its end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import Tab

from replay.store import LocalStore
from tests.tui_helpers import wait_until
from tui.app import make_app
from tui.insights import Insights
from tui.screens.debugger_messages import ChildAttached
from tui.widgets.status_line import StatusLine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

POOL_STEP = """\
import json, multiprocessing, os, sys, time
import debugpy

def square(x):
    time.sleep(0.2)  # long enough for both workers to start (and be announced) before the pool ends
    return x * x

if __name__ == "__main__":
    host, port = debugpy.listen(("127.0.0.1", 0))
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"host": host, "port": port}, f)
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    debugpy.wait_for_client()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        print("squares", sum(pool.map(square, range(8))))
"""


@pytest.fixture
def pool_debuggee(tmp_path: Path) -> Iterator[tuple[str, int]]:
    script, ready = tmp_path / "pool_step.py", tmp_path / "ready.json"
    script.write_text(POOL_STEP)
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(ready)], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the debuggee never listened"
        time.sleep(0.05)
    address = json.loads(ready.read_text())
    yield address["host"], address["port"]
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left: the pool, debugpy's adapter
    except ProcessLookupError:
        pass
    process.wait(10)


async def test_pool_workers_become_sessions_and_none_is_left_hanging(
        tmp_path: Path, pool_debuggee: tuple[str, int]) -> None:
    children: list[Message] = []

    def hook(message: Message) -> None:
        if isinstance(message, ChildAttached):
            children.append(message)

    app = make_app(LocalStore(tmp_path / "store"), pool_debuggee, insights=Insights())
    async with app.run_test(size=(120, 36), message_hook=hook) as pilot:
        status = app.screen.query_one(StatusLine)
        await wait_until(pilot, lambda: status.phase == "exited", 60, state=lambda: str(status.render()))
        # Each pool worker is followed as a session (the last may be announced after
        # the main process has already said it exited).
        await wait_until(pilot, lambda: len({id(c.session) for c in children}) >= 2, 10,
                         state=lambda: [c.session.name for c in children])

        def tabs() -> list[str]:
            return [str(tab.label) for tab in app.screen.query("#sessions Tab").results(Tab)]

        # A tab is mounted a moment after its ChildAttached message; the main session may
        # already have exited by then.
        # The hook sees a message once per node it bubbles through: count sessions.
        followed = {id(c.session) for c in children}
        await wait_until(pilot, lambda: len(tabs()) == len(followed) + 1, 10,
                         state=lambda: f"{tabs()} for {[c.session.name for c in children]}")
        assert tabs()[0] == "main" and all(t.startswith("Subprocess") for t in tabs()[1:])
