"""The `debuggee` fixture: a started `ScriptedDebuggee`, for test modules that list
this module in `pytest_plugins` (a plugin module of its own, so pytest imports it
first and rewrites its asserts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tui_helpers import ScriptedDebuggee


@pytest.fixture
def debuggee() -> Iterator[ScriptedDebuggee]:
    fake = ScriptedDebuggee()
    fake.start()
    yield fake
    fake.close()
