"""A worker that raises is said in the UI, whichever screen or widget started it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from textual import work
from textual.app import App, ComposeResult
from textual.widgets import Static

import tui
from tests.tui_helpers import wait_until
from tui.worker_failures import ShowsWorkerFailures


class Failing(ShowsWorkerFailures, Static):
    FAILURE_TITLES = {"reads": "cannot read it"}

    def on_mount(self) -> None:
        self._grouped()
        self._plain()

    @work(thread=True, group="reads", exit_on_error=False)
    def _grouped(self) -> None:
        raise OSError("disk on fire")

    @work(thread=True, exit_on_error=False)
    def _plain(self) -> None:
        raise ValueError("bad value")


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Failing()


async def test_failures_are_notified_with_their_titles_and_the_app_goes_on() -> None:
    app = Host()
    async with app.run_test(notifications=True) as pilot:
        await wait_until(pilot, lambda: len(app._notifications) >= 2, state=lambda: list(app._notifications))
        said = {(n.title, n.message, n.severity) for n in app._notifications}
        assert said == {("cannot read it", "disk on fire", "error"), ("_plain failed", "bad value", "error")}
        assert app.is_running


def _classes_running_workers() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(tui.__path__, "tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and "exit_on_error=False" in inspect.getsource(cls):
                found.append(cls)
    return found


def test_the_search_for_nodes_running_workers_finds_them() -> None:
    names = {cls.__name__ for cls in _classes_running_workers()}
    assert {"BrowserScreen", "DebuggerScreen", "DetailScreen"} <= names


@pytest.mark.parametrize("cls", _classes_running_workers(), ids=lambda c: c.__name__)
def test_every_node_running_workers_reports_their_failures(cls: type) -> None:
    """Textual posts a worker's state only to the node that started it."""
    assert issubclass(cls, ShowsWorkerFailures)
