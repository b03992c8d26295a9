"""The debugger screen against a scripted debug adapter (real DAP over real TCP).

Each test attaches the app to a `ScriptedDebuggee` that plays `score.py` stopped at a
ZeroDivisionError on line 7, and checks one thing the user does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import Input, Log, RichLog, TabbedContent

from tests.tui_helpers import (
    FIXED_NOW,
    SCORE_PATH,
    ScriptedDebuggee,
    fixed_insights,
    fixture_store,
    source,
    status,
    wait_until,
)
from tui.app import ReplayApp, make_app
from tui.screens.browser import BrowserScreen
from tui.screens.debugger import DebuggerScreen
from tui.screens.debugger_messages import OutputPending
from tui.widgets.call_stack import CallStack
from tui.widgets.source_view import SourceView
from tui.widgets.variables_tree import VariablesTree

pytest_plugins = ["tests.tui_debuggee"]


@pytest.fixture
def app(tmp_path: Path, debuggee: ScriptedDebuggee) -> ReplayApp:
    store = fixture_store(tmp_path / "store")
    return make_app(store, ("127.0.0.1", debuggee.port), clock=lambda: FIXED_NOW, insights=fixed_insights())


def tree_labels(app: ReplayApp) -> list[str]:
    tree = app.screen.query_one(VariablesTree)
    labels: list[str] = []

    def walk(node: object) -> None:
        for child in node.children:  # type: ignore[attr-defined]
            labels.append(str(child.label))
            if child.is_expanded:
                walk(child)

    walk(tree.root)
    return labels


async def stopped(pilot: object, app: ReplayApp, line: int = 7) -> None:
    await wait_until(pilot, lambda: status(app).phase == "stopped" and source(app).current_line == line)  # type: ignore[arg-type]
    await wait_until(pilot, lambda: any(label.startswith("i = ") for label in tree_labels(app)))  # type: ignore[arg-type]


async def test_attaching_shows_the_exception_source_stack_and_locals(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await stopped(pilot, app)
        assert isinstance(app.screen, DebuggerScreen)
        assert str(status(app).render()) == "stopped: exception · ZeroDivisionError: division by zero"
        assert source(app).path == SCORE_PATH
        assert app.screen.query_one(CallStack).option_count == 4
        assert {"i = 3  int", "r = 0  int", "total = 18.333333333333336  float"} <= set(tree_labels(app))
        assert app.screen.sub_title == f"{SCORE_PATH} · pid 4242"


async def test_a_big_list_expands_one_page_at_a_time(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await stopped(pilot, app)
        tree = app.screen.query_one(VariablesTree)
        scores = next(n for n in tree.root.children[0].children if str(n.label).startswith("scores"))
        scores.expand()
        await wait_until(pilot, lambda: len(scores.children) == 51)
        more = scores.children[-1]
        assert str(more.label) == "… show 50 more of 180"
        tree.select_node(more)
        await pilot.pause()
        assert len(scores.children) == 101
        assert str(scores.children[-1].label) == "… show 50 more of 130"


async def test_step_over_moves_the_highlighted_line(app: ReplayApp, debuggee: ScriptedDebuggee) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await stopped(pilot, app)
        await pilot.press("f10")
        await stopped(pilot, app, line=8)
        await pilot.press("n")
        await stopped(pilot, app, line=9)
        assert [r["command"] for r in debuggee.requests].count("next") == 2


async def test_a_breakpoint_goes_to_the_debuggee_and_into_the_gutter(app: ReplayApp,
                                                                     debuggee: ScriptedDebuggee) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await stopped(pilot, app)
        await pilot.click(SourceView, offset=(1, 5))  # the gutter of line 5 (the view starts at line 1)
        await wait_until(pilot, lambda: any(r["command"] == "setBreakpoints" for r in debuggee.requests))
        sent = [r for r in debuggee.requests if r["command"] == "setBreakpoints"][-1]["arguments"]
        assert sent == {"source": {"path": SCORE_PATH}, "breakpoints": [{"line": 5}]}
        source(app).focus()
        await pilot.press("up", "b")  # the cursor sits on the line clicked; up, then b
        await wait_until(pilot, lambda: [r["arguments"]["breakpoints"] for r in debuggee.requests
                                         if r["command"] == "setBreakpoints"][-1] == [{"line": 4}, {"line": 5}])
        assert source(app).breakpoints == {4, 5}


async def test_choosing_a_caller_frame_moves_source_and_variables(app: ReplayApp,
                                                                  debuggee: ScriptedDebuggee) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await stopped(pilot, app)
        stack = app.screen.query_one(CallStack)
        stack.focus()
        await pilot.press("down")
        await wait_until(pilot, lambda: source(app).current_line == 15)
        await wait_until(pilot, lambda: {"frameId": 2} in [r.get("arguments") for r in debuggee.requests])
        await wait_until(pilot, lambda: any(label.startswith("rows = ") for label in tree_labels(app))
                         and not any(label.startswith("i = ") for label in tree_labels(app)))


async def test_the_console_evaluates_in_the_selected_frame_and_keeps_history(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await stopped(pilot, app)
        app.screen.query_one(TabbedContent).active = "console-pane"
        box = app.screen.query_one("#console-input", Input)
        box.focus()
        await pilot.press(*"rows[3]", "enter")
        log = app.screen.query_one("#console-log", RichLog)
        await wait_until(pilot, lambda: any("<rows[3] in frame 1>" in str(line.text) for line in log.lines))
        # typing the debugger's letter keys into the box must not drive the debugger
        await pilot.press(*"c n", "up")
        assert box.value == "rows[3]"
        assert status(app).phase == "stopped"


async def test_continue_to_the_end_shows_the_exit_and_the_program_output(app: ReplayApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await stopped(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: status(app).phase == "exited")
        assert str(status(app).render()) == "exited: code 1"
        await wait_until(pilot, lambda: list(app.screen.query_one("#output", Log).lines)[:3]
                         == ["line 0", "line 1", "line 2"])


async def test_a_flood_of_output_events_reaches_the_pane_in_a_few_batches(tmp_path: Path,
                                                                          debuggee: ScriptedDebuggee) -> None:
    wakeups: list[Message] = []

    def hook(message: Message) -> None:
        if isinstance(message, OutputPending):
            wakeups.append(message)

    app = make_app(fixture_store(tmp_path / "store"), ("127.0.0.1", debuggee.port), clock=lambda: FIXED_NOW,
                   insights=fixed_insights())
    async with app.run_test(size=(120, 36), message_hook=hook) as pilot:
        await stopped(pilot, app)
        debuggee.flood(3000)
        log = app.screen.query_one("#output", Log)
        await wait_until(pilot, lambda: log.line_count >= 3000)
        assert list(log.lines)[2999] == "row 2999"
        assert len(wakeups) < 300, f"{len(wakeups)} wake-ups for 3000 output events"


async def test_a_lost_connection_is_reported_and_the_browser_stays_usable(app: ReplayApp,
                                                                          debuggee: ScriptedDebuggee) -> None:
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await stopped(pilot, app)
        debuggee.drop()
        await wait_until(pilot, lambda: status(app).phase == "lost")
        assert str(status(app).render()).startswith("connection lost: debug adapter connection lost")
        assert any(n.title == "debugger connection lost" for n in app._notifications)
        await pilot.press("escape")
        assert isinstance(app.screen, BrowserScreen)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.title == "capture 3f9a2c81d0e4")

