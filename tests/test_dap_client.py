"""The DAP client against real debugpy debuggees (tests/fixtures/dap/).

Each debuggee runs in its own process group, announces its port through a ready-file,
and is killed afterwards together with its debugpy adapter, which daemonizes and would
otherwise outlive it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from replay.dap import DapConnectionLost, DapRequestError, DapSession, attach

FIXTURES = Path(__file__).parent / "fixtures" / "dap"
STEP = FIXTURES / "step_fails.py"
POOL_STEP = FIXTURES / "pool_step.py"
WAIT = 20.0  # generous: two shared cores, and debugpy start-up alone takes about a second

pytestmark = pytest.mark.timeout(90)  # a backstop: every wait below is bounded by WAIT


def line_of(path: Path, marker: str) -> int:
    """The line carrying `# MARK: <marker>`, so the fixtures can change freely."""
    lines = path.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.endswith(f"# MARK: {marker}"))


@dataclass
class Debuggee:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    ready: dict[str, Any]
    adapter: tuple[int, str] | None
    """The adapter's PID and start time, so a recycled PID is never killed."""

    def exit_code(self, timeout: float = WAIT) -> int:
        return self.process.wait(timeout)


def start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: with the PID, it names one process for good."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[19]


def listening_pid(port: int) -> int | None:
    """The PID listening on 127.0.0.1:`port` (the adapter), found through /proc."""
    wanted = f"0100007F:{port:04X}"
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    inodes = {f"socket:[{f[9]}]" for f in (r.split() for r in rows) if f[1] == wanted and f[3] == "0A"}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue  # the process ended or is not ours to inspect
    return None


def kill(debuggee: Debuggee) -> None:
    try:
        os.killpg(debuggee.process.pid, signal.SIGKILL)  # the debuggee and its workers
    except ProcessLookupError:
        pass
    debuggee.process.wait(WAIT)
    if debuggee.adapter is None:
        return
    pid, started = debuggee.adapter
    try:
        if start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass  # the adapter already exited with its debuggee


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Debuggee]]:
    """Start fixture targets under tests/fixtures/dap/harness.py; kill them all afterwards."""
    started: list[Debuggee] = []

    def start(target: Path, *flags: str) -> Debuggee:
        ready_file = tmp_path / f"ready-{len(started)}.json"
        env = {k: v for k, v in os.environ.items() if k != "REPLAY_CAPTURE"}
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        with open(tmp_path / f"debuggee-{len(started)}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(FIXTURES / "harness.py"), str(ready_file), str(target), *flags],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + WAIT
        while not ready_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"debuggee never became ready; see {log.name}")
            time.sleep(0.02)
        ready = json.loads(ready_file.read_text())
        adapter_pid = listening_pid(ready["port"])
        adapter = None if adapter_pid is None else (adapter_pid, start_time(adapter_pid))
        debuggee = Debuggee(process, ready["host"], ready["port"], ready, adapter)
        started.append(debuggee)
        return debuggee

    yield start
    for debuggee in started:
        kill(debuggee)


@pytest.fixture
def sessions() -> Iterator[list[DapSession]]:
    """Sessions to close after the test, whatever it asserted."""
    opened: list[DapSession] = []
    yield opened
    for session in opened:
        session.close()


def test_uncaught_exception_stops_in_the_raising_frame_with_its_locals(launch, sessions) -> None:
    debuggee = launch(STEP)

    session = attach(debuggee.host, debuggee.port, exception_filters=("uncaught",), timeout=WAIT)
    sessions.append(session)
    stop = session.wait_for_stop(WAIT)

    assert stop.event.reason == "exception"
    assert (stop.top.path, stop.top.line, stop.top.name) == (str(STEP), line_of(STEP, "raises"), "normalise")
    local = session.locals_of(stop.top.id)
    assert {name: (v.value, v.type) for name, v in local.items() if name != "big"} == {
        "rows": ("[1, 2, 3]", "list"),
        "total": ("6", "int"),
        "scale": ("0", "int"),
    }
    assert not any(v.is_group for v in local.values())
    info = session.client.exception_info(stop.thread_id)
    assert (info.description, info.break_mode) == ("division by zero", "unhandled")


def test_a_breakpoint_stops_there_and_next_moves_to_the_following_line(launch, sessions) -> None:
    debuggee = launch(STEP)
    session = attach(debuggee.host, debuggee.port, breakpoints={str(STEP): [line_of(STEP, "breakpoint")]}, timeout=WAIT)
    sessions.append(session)

    stop = session.wait_for_stop(WAIT)
    session.client.next(stop.thread_id)
    stepped = session.wait_for_stop(WAIT)

    assert session.breakpoints[str(STEP)][0].verified
    assert (stop.event.reason, stop.top.line) == ("breakpoint", line_of(STEP, "breakpoint"))
    assert (stepped.event.reason, stepped.top.line) == ("step", line_of(STEP, "after breakpoint"))
    assert "scale" in session.locals_of(stepped.top.id)


def test_variables_pages_through_a_big_list(launch, sessions) -> None:
    debuggee = launch(STEP)
    session = attach(debuggee.host, debuggee.port, timeout=WAIT)
    sessions.append(session)
    stop = session.wait_for_stop(WAIT)
    big = session.locals_of(stop.top.id)["big"]

    rows = session.client.variables(big.variables_reference)
    page = session.client.variables(big.variables_reference, start=40, count=10)
    more = next(v for v in rows if v.name == "more")  # debugpy's own paging: items 100 on
    rest = session.client.variables(more.variables_reference)

    assert page == rows[40:50]
    items = [int(v.value) for v in rows + rest if not v.is_group and v.name.isdigit()]
    assert items == list(range(1000))


def test_evaluate_in_a_frame_and_a_failing_expression_raises_the_adapters_message(launch, sessions) -> None:
    debuggee = launch(STEP)
    session = attach(debuggee.host, debuggee.port, timeout=WAIT)
    sessions.append(session)
    frame_id = session.wait_for_stop(WAIT).top.id

    result = session.client.evaluate("total * 2", frame_id=frame_id)

    assert (result.result, result.type) == ("12", "int")
    with pytest.raises(DapRequestError, match="name 'no_such_name' is not defined"):
        session.client.evaluate("no_such_name", frame_id=frame_id)


def test_a_request_on_a_dead_connection_raises_connection_lost_without_hanging(launch, sessions) -> None:
    debuggee = launch(STEP)
    session = attach(debuggee.host, debuggee.port, timeout=60.0)  # a hang would show as DapTimeout
    sessions.append(session)
    session.wait_for_stop(WAIT)
    assert debuggee.adapter is not None

    kill(debuggee)
    started = time.monotonic()

    with pytest.raises(DapConnectionLost):
        session.client.threads()
    assert time.monotonic() - started < 10


def test_a_pool_completes_when_children_are_followed(launch, sessions) -> None:
    debuggee = launch(POOL_STEP)
    announced: list[DapSession] = []

    session = attach(debuggee.host, debuggee.port, follow_children=True, on_child=announced.append, timeout=WAIT)
    sessions.append(session)

    assert debuggee.exit_code() == 0
    # Each child is listed by its own thread once its attach handshake returns, which
    # on a loaded machine can trail the pool's end by a moment.
    deadline = time.monotonic() + WAIT
    while (len(session.children) < 2 or len(announced) < 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(session.children) == 2
    assert {c.name for c in announced} == {c.name for c in session.children}
    assert all(c.name.startswith("Subprocess ") for c in announced)


def test_a_pool_completes_unfollowed_when_the_debuggee_disables_subprocess_debugging(launch, sessions) -> None:
    debuggee = launch(POOL_STEP, "--no-subprocess")

    session = attach(debuggee.host, debuggee.port, follow_children=False, timeout=WAIT)
    sessions.append(session)

    assert debuggee.exit_code() == 0
    assert session.children == []


def test_closing_the_parent_releases_children_stopped_at_a_breakpoint(launch) -> None:
    debuggee = launch(POOL_STEP)
    square = line_of(POOL_STEP, "worker")
    session = attach(debuggee.host, debuggee.port, breakpoints={str(POOL_STEP): [square]}, timeout=WAIT)
    try:
        deadline = time.monotonic() + WAIT
        while not session.children and time.monotonic() < deadline:
            time.sleep(0.05)
        stop = session.children[0].wait_for_stop(WAIT)
        assert stop.top.line == square
    finally:
        session.close()

    assert debuggee.exit_code() == 0
    assert all(not child.client.connected for child in session.children)


@pytest.mark.parametrize(("flags", "expected"), [(("--nodelay",), 1), ((), 0)])
def test_nodelay_sets_tcp_nodelay_on_pydevds_adapter_socket(launch, sessions, flags, expected) -> None:
    debuggee = launch(STEP, *flags)

    session = attach(debuggee.host, debuggee.port, timeout=WAIT)
    sessions.append(session)

    assert debuggee.ready["nodelay_patched"] is bool(expected)
    assert debuggee.ready["pydevd_socket_nodelay"] == expected
    assert session.wait_for_stop(WAIT).event.reason == "exception"
