"""`replay run ID --attach --port 0 --json` as a child process of the TUI.

A child process rather than `replay_step` in a thread: the step runs with its own
argv, cwd, environment and stdio, a crash in it cannot take the TUI down, and restart
is "stop the process group, start another". The child says where debugpy listens on
stderr (`replay: debugger listening on HOST:PORT`) and prints the verdict as JSON on
stdout when the step has ended; the step's own output arrives on stderr.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLL_S = 0.5
"""How often the reader looks up from the pipes to see whether it should stop."""
_LISTENING = re.compile(r"replay: debugger listening on (?P<host>\S+):(?P<port>\d+)")


def listening_address(line: str) -> tuple[str, int] | None:
    """The debugger address announced on `line`, if that is what the line says."""
    found = _LISTENING.search(line)
    return (found["host"], int(found["port"])) if found else None


@dataclass(frozen=True)
class ReplayRequest:
    """One replay the user asked for."""

    store_root: Path
    capture_id: str
    from_start: bool = False
    """Listen before the step starts, so breakpoints before the failure are hit."""
    source: Path | None = None
    """A working copy to run instead of the captured source (`--source`)."""

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "replay", "run", self.capture_id, "--store", str(self.store_root),
                "--attach", "--port", "0", "--json"]
        if self.from_start:
            argv.append("--from-start")
        if self.source is not None:
            argv += ["--source", str(self.source)]
        return argv


@dataclass(frozen=True)
class ReplayEnded:
    """How the child ended: its exit status and the verdict it printed, if any."""

    exit_code: int
    verdict: dict[str, Any] | None

    @property
    def verdict_name(self) -> str | None:
        return str(self.verdict["verdict"]) if self.verdict and "verdict" in self.verdict else None

    def describe(self) -> str:
        """The status line's words: "exited: code 1 · verdict reproduced"."""
        said = f"exited: code {self.exit_code}"
        return f"{said} · verdict {self.verdict_name}" if self.verdict_name else f"{said} · no verdict"


class ReplayProcess:
    """A running `replay run --attach`; read it with `stderr_lines()`, then `wait()`."""

    def __init__(self, request: ReplayRequest) -> None:
        self.request = request
        self._stdout = bytearray()
        self._process = subprocess.Popen(
            request.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so stop() reaches everything it started
        )

    def stderr_lines(self, cancelled: Callable[[], bool]) -> Iterator[str]:
        """The child's stderr, line by line, until `replay run` has ended.

        The end is when its stdout closes, not its stderr: debugpy's adapter inherits
        stderr and may outlive the step until its client lets go.
        """
        assert self._process.stdout is not None and self._process.stderr is not None
        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(self._process.stderr, selectors.EVENT_READ, "stderr")
        partial = b""
        with selector:
            while not cancelled() and "stdout" in {k.data for k in selector.get_map().values()}:
                for key, _ in selector.select(POLL_S):
                    data = os.read(key.fd, 65536)
                    if not data:
                        selector.unregister(key.fileobj)
                    elif key.data == "stdout":
                        self._stdout += data
                    else:
                        *lines, partial = (partial + data).split(b"\n")
                        yield from (line.decode(errors="replace") + "\n" for line in lines)
        if partial:
            yield partial.decode(errors="replace")

    def wait(self) -> ReplayEnded:
        """How it ended; call once `stderr_lines()` is exhausted."""
        code = self._process.wait()
        try:
            verdict = json.loads(self._stdout) if self._stdout.strip() else None
        except ValueError:
            verdict = None
        return ReplayEnded(code, verdict if isinstance(verdict, dict) else None)

    def stop_runner(self) -> None:
        """End `replay run` itself but not the step it runs, so no verdict is recorded for
        a replay the user abandoned; the step is then ended through its debugger."""
        if self._process.poll() is None:
            try:
                os.kill(self._process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass  # it ended meanwhile

    def stop(self, grace: float = 3.0) -> None:
        """End whatever is left of the child's process group (the step, debugpy's adapter):
        SIGTERM, then SIGKILL.

        The group outlives `replay run` while the step or the adapter runs, and a pid is
        never reused while its group exists, so signalling the group by that id reaches
        only ours.
        """
        self._signal_group(signal.SIGTERM)
        try:
            self._process.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self._process.wait(grace)

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self._process.pid, sig)
        except ProcessLookupError:
            pass  # nobody left in the group
