"""`replay tui` in a real terminal: tmux runs it, keys go in, the screen is read back.

Headless tests never meet a real terminal's escape sequences, sizes and key encodings;
this one does. The tmux server runs on its own socket and is ended by that socket.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tui_helpers import fixture_store

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., str]]:
    socket = str(tmp_path / "tmux.sock")

    def run(*args: str) -> str:
        done = subprocess.run(["tmux", "-S", socket, *args], capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        return done.stdout

    yield run
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True, timeout=20)


def screen_shows(tmux: Callable[..., str], text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux("capture-pane", "-p", "-t", "tui")
        if text in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")
        time.sleep(0.2)


def test_replay_tui_in_tmux_lists_filters_and_opens_captures(tmp_path: Path, tmux: Callable[..., str]) -> None:
    store = fixture_store(tmp_path / "store")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLAY_")}
    command = [sys.executable, "-m", "replay", "tui", "--store", str(store.root)]
    # The pane stays after the app quits, showing how it ended (and any error it printed).
    shell = f'{shlex.join(command)}; echo "[exited $?]"; sleep 60'
    tmux("new-session", "-d", "-s", "tui", "-x", "120", "-y", "40",
         *(arg for k in ("PATH", "HOME", "LANG") if k in env for arg in ("-e", f"{k}={env[k]}")),
         "-e", "TERM=tmux-256color", shell)
    tmux("resize-window", "-t", "tui", "-x", "120", "-y", "40")  # a detached session may start at 80x24
    screen = screen_shows(tmux, "3f9a2c81d0e4")
    assert "b71c09e2aa31" in screen and "prepare-data" in screen

    tmux("send-keys", "-t", "tui", "-l", "train")
    screen = screen_shows(tmux, "1 of 3 captures")
    assert "0d4e5f6a7b8c" in screen and "3f9a2c81d0e4" not in screen

    tmux("send-keys", "-t", "tui", "Enter")
    screen_shows(tmux, "capture 0d4e5f6a7b8c")

    tmux("send-keys", "-t", "tui", "C-q")
    screen_shows(tmux, "[exited 0]")
