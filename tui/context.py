"""What every screen is handed: the store, the clock, and the optional analyses.

Screens get this from the app factory instead of reaching into `self.app`, so a test
can build any screen over a fixture store with a fixed clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from replay.store import LocalStore
from tui.insights import Insights

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class AppContext:
    store: LocalStore
    clock: Clock
    find_insights: Callable[[], Insights]
    """Called once, when a capture is first opened: looking the analyses up imports them,
    which would slow the browser's start-up for tabs not shown yet."""

    @cached_property
    def insights(self) -> Insights:
        return self.find_insights()

    def thread_store(self) -> LocalStore:
        """The store for the calling worker thread.

        A `LocalStore` keeps one SQLite connection for its index, usable only by the
        thread that opened it, and workers run on whichever pool thread is free.
        """
        return LocalStore(self.store.root)
