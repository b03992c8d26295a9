"""The capture browser and the detail view, driven with Pilot over a fixture store."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Label, Log, Static, TabbedContent

from replay.store import LocalStore
from tests.tui_helpers import FIXED_NOW, fixed_insights, fixture_store, wait_until
from tui.app import ReplayApp, make_app
from tui.screens.browser import BrowserScreen
from tui.screens.debugger import DebuggerScreen
from tui.screens.detail import DetailScreen
from tui.widgets.capture_table import CaptureTable
from tui.widgets.status_line import StatusLine


@pytest.fixture
def app(tmp_path: Path) -> ReplayApp:
    return make_app(fixture_store(tmp_path / "store"), clock=lambda: FIXED_NOW, insights=fixed_insights())


def shown_ids(app: ReplayApp) -> list[str]:
    return [r.id for r in app.screen.query_one(CaptureTable).rows]


async def test_the_browser_lists_every_capture_newest_first(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        assert shown_ids(app) == ["3f9a2c81d0e4", "b71c09e2aa31", "0d4e5f6a7b8c"]
        table = app.screen.query_one(CaptureTable)
        await wait_until(pilot, lambda: table.rows[0].verdict == "passed")  # the last of its two replays
        assert [r.verdict for r in table.rows[1:]] == ["", ""]


async def test_typing_filters_the_captures_and_escape_clears_the_filter(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        await pilot.press(*"keyerror")
        assert shown_ids(app) == ["b71c09e2aa31"]
        await pilot.press("escape")
        assert shown_ids(app) == ["3f9a2c81d0e4", "b71c09e2aa31", "0d4e5f6a7b8c"]


async def test_clicking_a_column_header_sorts_by_that_column(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        await pilot.click(CaptureTable, offset=(16, 0))  # the STEP header
        assert shown_ids(app) == ["b71c09e2aa31", "3f9a2c81d0e4", "0d4e5f6a7b8c"]  # prepare-data, score, train


async def test_a_capture_published_while_the_browser_is_open_appears(tmp_path: Path) -> None:
    store = fixture_store(tmp_path / "store")
    app = make_app(store, clock=lambda: FIXED_NOW, insights=fixed_insights())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        newest = {"id": "e5e5e5e5e5e5", "created": "2026-11-27T11:59:00+00:00"}
        other = store.load("b71c09e2aa31").model_copy(update=newest)
        store.publish(other)
        await wait_until(pilot, lambda: shown_ids(app)[:1] == ["e5e5e5e5e5e5"], timeout=10)


async def test_enter_opens_the_capture_in_tabs_and_escape_returns(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.title == "capture b71c09e2aa31"
        tabs = app.screen.query_one(TabbedContent)
        panes = [p.id for p in tabs.query("TabPane")]
        assert panes == ["summary", "failure", "inputs", "environment", "doctor", "logs"]
        await pilot.press("escape")
        assert isinstance(app.screen, BrowserScreen)


async def test_a_capture_that_cannot_be_read_is_said_and_the_browser_stays(app: ReplayApp) -> None:
    manifest = app.context.store.capture_dir("b71c09e2aa31") / "manifest.json"
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        manifest.write_text("{not json")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: bool(app._notifications))
        (said,) = app._notifications
        assert said.title == "cannot open capture" and "b71c09e2aa31" in said.message
        assert isinstance(app.screen, BrowserScreen) and app.is_running


async def test_the_logs_tab_narrows_to_the_lines_matching_the_search(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        app.screen.query_one(TabbedContent).active = "logs"
        await pilot.pause()
        app.screen.query_one("#log-search", Input).focus()
        await pilot.press(*"slow")
        await pilot.pause()
        assert list(app.screen.query_one("#log-lines", Log).lines) == ["warning: slow disk"]


async def test_copying_the_id_puts_it_on_the_clipboard(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("y")
        assert app.clipboard == "3f9a2c81d0e4"


async def test_a_damaged_capture_is_reported_and_the_browser_stays_usable(tmp_path: Path) -> None:
    store = fixture_store(tmp_path / "store")
    app = make_app(store, clock=lambda: FIXED_NOW, insights=fixed_insights())
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        manifest = store.capture_dir("3f9a2c81d0e4") / "manifest.json"
        manifest.chmod(0o644)
        manifest.write_text('{"id": "3f9a2c81d0e4"}')
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("invalid manifest" in str(n.message) for n in app._notifications))
        assert isinstance(app.screen, BrowserScreen)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))


async def test_a_replay_that_cannot_start_says_why(app: ReplayApp, tmp_path: Path) -> None:
    """The fixture capture has a reference-only input, so `replay run` refuses it."""
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(shown_ids(app)) == 3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("w")  # replay my working copy: asks which folder
        box = app.screen.query_one("#source-dir", Input)
        box.value = str(tmp_path / "nowhere")
        await pilot.press("enter")
        assert "is not a folder" in str(app.screen.query_one("#source-error", Label).render())
        box.value = str(tmp_path)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DebuggerScreen))
        status = app.screen.query_one(StatusLine)
        await wait_until(pilot, lambda: status.phase == "exited", 60, state=lambda: str(status.render()))
        said = str(status.render())
        assert said.startswith("exited: code 2 · no verdict · replay: ") and "--input-map" not in said
        assert "too large to capture" in said


async def test_the_first_frame_already_lists_the_store(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 30)):
        assert shown_ids(app) == ["3f9a2c81d0e4", "b71c09e2aa31", "0d4e5f6a7b8c"]  # no wait for a worker
        assert "3 captures" in str(app.screen.query_one("#browser-status", Static).render())


async def test_an_unreadable_index_is_reported_in_the_browser_not_as_a_traceback(tmp_path: Path) -> None:
    store = fixture_store(tmp_path / "store")
    store.index().close()
    for path in store.root.glob("index.sqlite*"):
        path.unlink()
    root = store.root
    (root / "index.sqlite").mkdir()  # not a file SQLite can open, nor one to set aside
    app = make_app(LocalStore(root), clock=lambda: FIXED_NOW, insights=fixed_insights())
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_until(pilot, lambda: any("unable to open" in str(n.message) for n in app._notifications))
        assert isinstance(app.screen, BrowserScreen) and shown_ids(app) == []
