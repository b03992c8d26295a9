"""The TUI against a real replay: a step really captured, really replayed under debugpy.

The user's story: open the capture, replay it, land on the failing line with the
values the capture recorded, step (after a breakpoint and a restart: a post-mortem
stop has nothing left to step through), continue to the verdict, and leave nothing
running behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from replay.store import LocalStore
from tests.conftest import run_replay
from tests.tui_helpers import source, status, wait_until
from tui.app import ReplayApp, make_app
from tui.insights import Insights
from tui.screens.debugger import DebuggerScreen
from tui.screens.detail import DetailScreen
from tui.widgets.capture_table import CaptureTable
from tui.widgets.variables_tree import VariablesTree

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

STEP = """\
def score(rows):
    total = 0
    for i, r in enumerate(rows):  # MARK: loop
        total += 10 / r  # MARK: fail
    return total


def main():
    rows = [3, 2, 1, 0, 5]
    threshold = 0.5
    print("scoring", len(rows), threshold)
    return score(rows)


if __name__ == "__main__":
    main()
"""
WAIT = 30.0  # debugpy start-up alone takes about a second; two shared cores


def line_of(marker: str) -> int:
    return next(n for n, text in enumerate(STEP.splitlines(), 1) if text.endswith(f"# MARK: {marker}"))


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStore, str]:
    """One real capture of a failing step, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("tui-replay")
    (root / "job").mkdir()
    (root / "job" / "step.py").write_text(STEP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLAY_")}
    env["REPLAY_STORE"] = str(root / "store")
    done = run_replay(["capture", "--", sys.executable, "step.py"], env, cwd=root / "job")
    assert done.returncode == 1, done.stderr
    store = LocalStore(root / "store")
    (capture_id,) = store.ids()
    return store, capture_id


@pytest.fixture
def app(captured: tuple[LocalStore, str]) -> ReplayApp:
    return make_app(captured[0], insights=Insights())


def local_labels(app: ReplayApp) -> list[str]:
    tree = app.screen.query_one(VariablesTree)
    scopes = tree.root.children
    return [str(child.label) for child in scopes[0].children] if scopes else []


async def replay_to_the_failure(pilot: object, app: ReplayApp) -> None:
    await wait_until(pilot, lambda: bool(app.screen.query(CaptureTable))  # type: ignore[arg-type]
                     and app.screen.query_one(CaptureTable).row_count == 1)
    await pilot.press("enter")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))  # type: ignore[arg-type]
    await pilot.press("r")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: isinstance(app.screen, DebuggerScreen))  # type: ignore[arg-type]
    await wait_until(pilot, lambda: status(app).phase == "stopped"  # type: ignore[arg-type]
                     and source(app).current_line == line_of("fail") and len(local_labels(app)) > 1, WAIT)


def processes_under(root: Path) -> list[int]:
    """Processes whose command line or working folder is inside `root` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue  # gone, or not ours to read
        if str(root) in cmdline or cwd.startswith(str(root)):
            found.append(int(proc.name))
    return found


async def test_a_replay_stops_on_the_failing_line_with_the_captured_values(
        app: ReplayApp, captured: tuple[LocalStore, str]) -> None:
    store, capture_id = captured
    async with app.run_test(size=(120, 40)) as pilot:
        await replay_to_the_failure(pilot, app)
        assert (source(app).path or "").endswith("step.py")
        assert str(status(app).render()).startswith("stopped: exception · ZeroDivisionError: division by zero")
        site = store.load(capture_id).failure.site_frame()  # type: ignore[union-attr]
        assert site is not None and site.line == line_of("fail")
        labels = local_labels(app)
        for name, value in site.locals.items():
            assert any(label.startswith(f"{name} = {value}") for label in labels), (name, value, labels)


async def test_after_a_breakpoint_and_a_restart_step_over_moves_the_highlighted_line(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await replay_to_the_failure(pilot, app)
        await pilot.press("n")  # post-mortem: nothing to step; the screen says how
        assert any(n.title == "post-mortem" for n in app._notifications)
        assert status(app).phase == "stopped"
        source(app).focus()
        await pilot.press("up", "b")  # a breakpoint on the loop line, above the failing one
        assert source(app).breakpoints == {line_of("loop")}
        await pilot.press("r")
        await wait_until(pilot, lambda: status(app).phase == "stopped" and source(app).current_line == line_of("loop"),
                         WAIT)
        assert str(status(app).render()) == "stopped: breakpoint"
        await pilot.press("f10")
        await wait_until(pilot, lambda: status(app).phase == "stopped" and source(app).current_line == line_of("fail"),
                         WAIT)


async def test_continue_ends_with_the_verdict_shown(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await replay_to_the_failure(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: status(app).phase == "exited" and "verdict" in str(status(app).render()),
                         WAIT, state=lambda: str(status(app).render()))
        assert str(status(app).render()) == "exited: code 1 · verdict reproduced"


async def test_leaving_the_debugger_ends_the_replay_and_records_no_verdict(
        captured: tuple[LocalStore, str]) -> None:
    store, capture_id = captured
    before = store.read_json(capture_id, "verdicts.json") or []
    app = make_app(store, insights=Insights())
    async with app.run_test(size=(120, 40)) as pilot:
        await replay_to_the_failure(pilot, app)
        assert processes_under(store.root), "the replay should be running while stopped"
        await pilot.press("escape")
        assert isinstance(app.screen, DetailScreen)
        await wait_until(pilot, lambda: not processes_under(store.root), 15)
    assert (store.read_json(capture_id, "verdicts.json") or []) == before
