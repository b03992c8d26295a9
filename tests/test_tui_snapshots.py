"""Snapshots of the browser, each detail tab and the debugger.

Everything on screen is fixed: a fixture store with fixed ids and times, a fixed
clock, fixed doctor and env-diff answers, and a scripted debug adapter instead of a
live debuggee. Update with `pytest tests/test_tui_snapshots.py --snapshot-update` and
review the SVGs under `tests/__snapshots__/` before accepting them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from tests.tui_helpers import FIXED_NOW, ScriptedDebuggee, fixed_insights, fixture_store, wait_until
from tui.app import ReplayApp, make_app
from tui.screens.detail import DetailScreen
from tui.widgets.capture_table import CaptureTable
from tui.widgets.status_line import StatusLine
from tui.widgets.variables_tree import VariablesTree

SIZE = (120, 34)
SnapCompare = Callable[..., bool]
RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def store_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReplayApp:
    monkeypatch.chdir(tmp_path)  # the header names the store relative to here: "store"
    return make_app(fixture_store(tmp_path / "store"), clock=lambda: FIXED_NOW, insights=fixed_insights())


async def steady(pilot: Pilot[Any]) -> None:
    """No blinking cursor in the picture."""
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


async def listed(pilot: Pilot[Any]) -> None:
    """Rows and their verdicts (a second pass) are on screen."""
    await wait_until(pilot, lambda: pilot.app.screen.query_one(CaptureTable).row_count == 3)
    await pilot.app.workers.wait_for_complete()
    await steady(pilot)


def detail_tab(tab: str) -> RunBefore:
    async def run_before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))
        pilot.app.screen.query_one(TabbedContent).active = tab
        await pilot.app.workers.wait_for_complete()
        await steady(pilot)

    return run_before


def test_browser(snap_compare: SnapCompare, store_app: ReplayApp) -> None:
    assert snap_compare(store_app, terminal_size=SIZE, run_before=listed)


def test_browser_filtered(snap_compare: SnapCompare, store_app: ReplayApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press(*"error")

    assert snap_compare(store_app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("tab", ["summary", "failure", "inputs", "environment", "doctor", "logs"])
def test_detail_tab(snap_compare: SnapCompare, store_app: ReplayApp, tab: str) -> None:
    assert snap_compare(store_app, terminal_size=SIZE, run_before=detail_tab(tab))


@pytest.fixture
def debugger_app(tmp_path: Path) -> Iterator[ReplayApp]:
    fake = ScriptedDebuggee()
    fake.start()
    yield make_app(fixture_store(tmp_path / "store"), ("127.0.0.1", fake.port), clock=lambda: FIXED_NOW,
                   insights=fixed_insights())
    fake.close()


async def stopped(pilot: Pilot[Any]) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.query_one(StatusLine).phase == "stopped")
    tree = screen.query_one(VariablesTree)
    await wait_until(pilot, lambda: bool(tree.root.children) and len(tree.root.children[0].children) > 1)
    await steady(pilot)


def test_debugger_stopped(snap_compare: SnapCompare, debugger_app: ReplayApp) -> None:
    assert snap_compare(debugger_app, terminal_size=SIZE, run_before=stopped)


def test_debugger_paging_a_big_list(snap_compare: SnapCompare, debugger_app: ReplayApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await stopped(pilot)
        tree = pilot.app.screen.query_one(VariablesTree)
        scores = next(n for n in tree.root.children[0].children if str(n.label).startswith("scores"))
        scores.expand()
        await wait_until(pilot, lambda: len(scores.children) == 51)
        tree.focus()
        tree.move_cursor(scores)

    assert snap_compare(debugger_app, terminal_size=SIZE, run_before=run_before)
