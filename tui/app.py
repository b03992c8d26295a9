"""The app and its factory, `make_app`, used by `replay tui` and by the tests alike.

The app itself only stacks screens: the browser at the bottom and, with an attach
address, the debugger over it, so leaving the debugger (or losing its connection)
lands in a usable browser.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from textual.app import App

from replay.store import LocalStore
from tui.context import AppContext, Clock
from tui.insights import Insights
from tui.loading import Listing, read_listing_before_start
from tui.screens.browser import BrowserScreen


class ReplayApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "replay"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self, context: AppContext, attach: tuple[str, int] | None = None, listing: Listing | None = None
    ) -> None:
        super().__init__()
        self.context = context
        self._attach_to = attach
        self._listing = listing

    def on_mount(self) -> None:
        self.push_screen(BrowserScreen(self.context, self._listing))
        if self._attach_to is not None:
            from tui.screens.debugger import AttachTarget, DebuggerScreen  # only when attaching: start-up time

            host, port = self._attach_to
            self.push_screen(DebuggerScreen(AttachTarget(host, port)))


def make_app(
    store: LocalStore,
    attach: tuple[str, int] | None = None,
    *,
    clock: Clock | None = None,
    insights: Insights | None = None,
) -> ReplayApp:
    """The TUI over `store`; with `attach`, opened on a debugger attached to HOST, PORT.

    The store's listing is read here, before the app runs, so that the first frame
    shows it. `clock` and `insights` exist for tests: a fixed time makes "5 min ago"
    stable, and fixed analyses keep drift (which depends on the interpreter) out of
    snapshots.
    """
    context = AppContext(
        store=store,
        clock=clock or (lambda: datetime.now().astimezone()),
        find_insights=(lambda: insights) if insights is not None else partial(Insights.discover, store),
    )
    return ReplayApp(context, attach, read_listing_before_start(store))
