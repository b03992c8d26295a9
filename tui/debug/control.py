"""Blocking debugger commands the screen runs on worker threads: resume or step a
thread, set a file's breakpoints in every session, and end everything at the close."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from replay.dap import DapClient, DapError
from tui.debug.replay_process import ReplayProcess
from tui.debug.sessions import SessionState

COMMANDS: dict[str, Callable[[DapClient, int], None]] = {
    "continue": DapClient.continue_,
    "next": DapClient.next,
    "step_in": DapClient.step_in,
    "step_out": DapClient.step_out,
    "pause": DapClient.pause,
}
STEP_WORDS = {"next": "step over", "step_in": "step in", "step_out": "step out"}


def send(client: DapClient, command: str, thread_id: int | None) -> None:
    """One of `COMMANDS`; without a thread (pausing a running program) the first one."""
    if thread_id is None:
        thread_id = client.threads()[0].id
    COMMANDS[command](client, thread_id)


def set_breakpoints(states: Sequence[SessionState], path: str, lines: list[int]) -> list[str]:
    """Set `path`'s breakpoints in every session; what the adapters refused, as text."""
    refused = []
    for state in states:
        try:
            verdicts = state.session.client.set_breakpoints(path, lines)
        except DapError as exc:
            refused.append(f"{state.name}: {exc}")
            continue
        refused += [b.message or f"line {n}" for n, b in zip(lines, verdicts, strict=False) if not b.verified]
    return refused


def close_all(states: Sequence[SessionState], process: ReplayProcess | None, terminate: bool) -> None:
    """End the replay and every session, killing our own replay's debuggee.

    `replay run` goes first, so an abandoned replay records no verdict; the debuggee
    then goes through the debugger, which lets its adapter exit cleanly; whatever is
    left of the replay's process group goes last.
    """
    if process is not None:
        process.stop_runner()
    for state in reversed(states):
        try:
            state.session.close(terminate_debuggee=terminate)
        except DapError:
            continue  # already gone: nothing to close
    if process is not None:
        process.stop()
