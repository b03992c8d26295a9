"""The capture browser: every capture in the store, filtered as you type.

The filter box keeps the focus, like fzf: letters filter, arrows and Enter drive the
table. The first listing is read before the app starts, so the first frame shows it;
it is re-read in a worker when the store's capture folder changes (a new capture
arrived) or when the user comes back from a replay (a new verdict), so the table is
never stale and the running UI never waits on the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from tui.context import AppContext
from tui.loading import (
    Listing,
    OpenedCapture,
    captures_mtime,
    last_verdicts,
    open_capture,
    read_listing,
)
from tui.rows import SORT_KEYS, RowView
from tui.widgets.capture_table import CaptureTable
from tui.worker_failures import ShowsWorkerFailures

WATCH_INTERVAL_S = 2.0


def store_label(root: Path) -> str:
    """The store as the user named it: relative when it is under the current folder."""
    try:
        return str(root.relative_to(Path.cwd()))
    except ValueError:
        return str(root)


class BrowserScreen(ShowsWorkerFailures, Screen[None]):
    CSS_PATH = "browser.tcss"
    FAILURE_TITLES: ClassVar[dict[str, str]] = {
        "listing": "cannot read the store", "verdicts": "cannot read the verdicts",
        "open": "cannot open capture",
    }
    AUTO_FOCUS = "#filter"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "table('cursor_by', -1)", "Up", show=False),
        Binding("down", "table('cursor_by', 1)", "Down", show=False),
        Binding("pageup", "table('page', -1)", "Page up", show=False),
        Binding("pagedown", "table('page', 1)", "Page down", show=False),
        Binding("enter", "open", "Open", priority=True),  # before the filter box's own Enter
        Binding("escape", "clear_filter", "Clear filter"),
        Binding("ctrl+o", "next_sort", "Sort by"),
        Binding("ctrl+t", "reverse_sort", "Reverse"),
    ]

    @dataclass
    class Loaded(Message):
        listing: Listing

    @dataclass
    class VerdictsLoaded(Message):
        verdicts: dict[str, str]

    @dataclass
    class CaptureReady(Message):
        opened: OpenedCapture

    def __init__(self, context: AppContext, listing: Listing | None = None) -> None:
        """`listing`: the store's listing when it was read before the app started."""
        super().__init__()
        self._app_context = context
        self._first_listing = listing
        self._view = RowView()
        self._seen_mtime: int | None = None
        self._loaded = False
        self._left = False
        """Another screen has been over this one (the first resume is the first show)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="type to filter by id, step, error or verdict", id="filter")
        yield CaptureTable(id="captures")
        yield Static("reading the store…", id="browser-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = store_label(self._app_context.store.root)
        if self._first_listing is not None:
            self._show_listing(self._first_listing)  # in the very first frame
            self._first_listing = None
        else:
            self._load()
        self.set_interval(WATCH_INTERVAL_S, self._watch)

    def on_screen_suspend(self) -> None:
        self._left = True

    def on_screen_resume(self) -> None:
        if self._left:
            self._load()  # back from a replay: its verdict is new

    # -- reading the store -------------------------------------------------------------

    @work(thread=True, exclusive=True, group="listing", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(read_listing(self._app_context.thread_store())))

    @work(thread=True, exclusive=True, group="verdicts", exit_on_error=False)
    def _load_verdicts(self, ids: list[str]) -> None:
        self.post_message(self.VerdictsLoaded(last_verdicts(self._app_context.thread_store(), ids)))

    def _watch(self) -> None:
        """Re-read the listing when a capture was published (one stat, on the timer)."""
        if self._loaded and captures_mtime(self._app_context.store) != self._seen_mtime:
            self._load()

    def on_browser_screen_loaded(self, message: Loaded) -> None:
        self._show_listing(message.listing)

    def _show_listing(self, listing: Listing) -> None:
        known = {row.id: row.verdict for row in self._view.rows if row.verdict}
        self._view.set_rows([row.with_verdict(known[row.id]) if row.id in known else row for row in listing.rows])
        self._seen_mtime = listing.captures_mtime
        self._loaded = True
        self._refresh_table()
        self._load_verdicts([row.id for row in listing.rows])  # after the rows are on screen

    def on_browser_screen_verdicts_loaded(self, message: VerdictsLoaded) -> None:
        verdicts = message.verdicts
        if all(verdicts.get(row.id, "") == row.verdict for row in self._view.rows):
            return  # nothing new (the common case): no re-sort of the whole store
        self._view.set_rows([row.with_verdict(verdicts.get(row.id, "")) if verdicts.get(row.id, "") != row.verdict
                             else row for row in self._view.rows])
        self._refresh_table()

    # -- filtering and sorting ---------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._refresh_table()

    def _refresh_table(self) -> None:
        query = self.query_one("#filter", Input).value
        shown = self._view.shown(query)
        self.query_one(CaptureTable).show(shown, self._app_context.clock(), self._view.sort)
        key, descending = self._view.sort
        order = "newest first" if (key, descending) == ("created", True) else f"by {key}{' ↓' if descending else ' ↑'}"
        total = len(self._view.rows)
        counted = f"{len(shown):,} of {total:,} captures" if query.strip() else f"{total:,} captures"
        self.query_one("#browser-status", Static).update(f"{counted} · {order}")

    def on_capture_table_sort_clicked(self, message: CaptureTable.SortClicked) -> None:
        key, descending = self._view.sort
        self._view.set_sort(message.key, not descending if key == message.key else message.key == "created")
        self._refresh_table()

    def action_next_sort(self) -> None:
        key, _ = self._view.sort
        following = SORT_KEYS[(SORT_KEYS.index(key) + 1) % len(SORT_KEYS)]
        self._view.set_sort(following, following == "created")
        self._refresh_table()

    def action_reverse_sort(self) -> None:
        key, descending = self._view.sort
        self._view.set_sort(key, not descending)
        self._refresh_table()

    def action_clear_filter(self) -> None:
        self.query_one("#filter", Input).value = ""

    def action_table(self, action: str, step: int) -> None:
        getattr(self.query_one(CaptureTable), f"action_{action}")(step)

    # -- opening a capture -------------------------------------------------------------

    def action_open(self) -> None:
        self.query_one(CaptureTable).action_activate()

    def on_capture_table_opened(self, message: CaptureTable.Opened) -> None:
        self._open(message.capture_id)

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def _open(self, capture_id: str) -> None:
        opened = open_capture(self._app_context.thread_store(), capture_id)
        self._app_context.insights  # noqa: B018 - imports the analyses here, off the UI thread
        self.post_message(self.CaptureReady(opened))

    def on_browser_screen_capture_ready(self, message: CaptureReady) -> None:
        from tui.screens.detail import DetailScreen  # with all its tabs: loaded when first needed

        opened = message.opened
        self.app.push_screen(DetailScreen(self._app_context, opened.manifest, opened.history, opened.sources))
