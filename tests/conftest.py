"""Shared fixtures: a fresh store per test, and running `replay` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from replay.store import LocalStore

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.sshd"]  # the session's private OpenSSH server fixtures


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache per test (validated manifests), for this process and the
    replay processes it starts."""
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_dir: Path) -> LocalStore:
    """An empty store, created (test files with a `store` of their own override it)."""
    made = LocalStore(store_dir)
    made.ensure()
    return made


@pytest.fixture
def clean_env(store_dir: Path) -> dict[str, str]:
    """The environment for child processes: no inherited replay settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLAY_")}
    env["REPLAY_STORE"] = str(store_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, body: str, folder: Path | None = None) -> Path:
        path = (folder or tmp_path / "src") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        return path

    return write


def run_replay(args: list[str], env: dict[str, str], cwd: Path | None = None,
               timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    """`replay ARGS` as a real process (the installed console script's module form)."""
    return subprocess.run(
        [sys.executable, "-m", "replay", *args], env=env, cwd=cwd, text=True,
        capture_output=True, timeout=timeout, **kw,  # type: ignore[arg-type]
    )


def run_python(args: list[str], env: dict[str, str], cwd: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)
