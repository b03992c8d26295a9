"""`replay tui --ssh`: the debugger attaches to a remote debug adapter through a real sshd.

The "remote" machine is this one, reached through the private OpenSSH server of
`tests/sshd.py`; the adapter listens on its loopback only, as a waiting failed step
does, so the only way in is the tunnel. Host keys are checked as in real use.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from replay.cli import tui as tui_command
from replay.remote import tunnel as tunnel_module
from replay.remote.tunnel import Tunnel, TunnelEvent
from tests.conftest import run_replay
from tests.sshd import SSHServer
from tests.tui_helpers import SCORE_PATH, ScriptedDebuggee, fixture_store, source, status, wait_until
from tui.screens.debugger import DebuggerScreen
from tui.widgets.capture_table import CaptureTable
from tui.widgets.source_view import SourceView
from tui.widgets.status_line import StatusLine

pytest_plugins = ["tests.sshd", "tests.tui_debuggee"]


def tui_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tui_command.add_arguments(parser)
    return parser.parse_args(argv)


def stopped_at_line(app: App[int], line: int) -> bool:
    return (isinstance(app.screen, DebuggerScreen) and status(app).phase == "stopped"  # type: ignore[arg-type]
            and source(app).current_line == line)  # type: ignore[arg-type]


async def test_the_debugger_attaches_through_the_tunnel_with_the_browser_under_it(
    tmp_path: Path, sshd: SSHServer, ssh_home: Path, debuggee: ScriptedDebuggee, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = fixture_store(tmp_path / "store")
    events: list[TunnelEvent] = []
    real_open_tunnel = tunnel_module.open_tunnel

    @contextmanager
    def watched_tunnel(*args: Any, **kwargs: Any) -> Iterator[Tunnel]:
        with real_open_tunnel(*args, **kwargs, on_event=events.append) as tunnel:
            yield tunnel

    monkeypatch.setattr(tunnel_module, "open_tunnel", watched_tunnel)
    args = tui_args("--store", str(store.root), "--ssh", sshd.target, "--remote-port", str(debuggee.port),
                    "-i", str(sshd.client_key), "--known-hosts", str(sshd.known_hosts))

    with tui_command.open_app(args) as app:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_until(pilot, lambda: stopped_at_line(app, 7), state=lambda: app.screen)
            status = str(app.screen.query_one(StatusLine).render())
            assert status == "stopped: exception · ZeroDivisionError: division by zero"
            assert app.screen.query_one(SourceView).path == SCORE_PATH

            await pilot.press("escape")  # the local browser is under the debugger
            table = app.screen.query_one(CaptureTable)
            await wait_until(pilot, lambda: table.row_count == 3)
    assert any(r.get("command") == "attach" for r in debuggee.requests)
    assert [e.kind for e in events][:1] == ["open"] and events[0].destination == f"127.0.0.1:{debuggee.port}"


def test_an_unknown_host_key_is_refused_with_its_fingerprint_before_anything_starts(
    tmp_path: Path, sshd: SSHServer, ssh_home: Path, debuggee: ScriptedDebuggee, clean_env: dict[str, str]
) -> None:
    known_hosts = ssh_home / ".ssh" / "known_hosts"  # empty: this server was never seen
    store = fixture_store(tmp_path / "store")
    env = {**clean_env, "HOME": str(ssh_home)}
    env.pop("SSH_AUTH_SOCK", None)

    done = run_replay(["tui", "--store", str(store.root), "--ssh", sshd.target, "--remote-port",
                       str(debuggee.port), "-i", str(sshd.client_key)], env, timeout=60)

    fingerprint = re.escape(sshd.host_fingerprint)
    assert done.returncode != 0
    assert re.fullmatch(rf"replay: host key of \[127\.0\.0\.1\]:{sshd.port} is not known "
                        rf"\(ssh-ed25519 {fingerprint}; not in {re.escape(str(known_hosts))}\)\. .*"
                        r"--accept-new-host-key to trust it\n", done.stderr), done.stderr
    assert not known_hosts.exists() or known_hosts.read_text() == ""  # nothing was trusted
    assert debuggee.requests == []  # and nothing reached the adapter

