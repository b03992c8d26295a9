"""Imported by `replay_capture.pth` at interpreter start-up when REPLAY_CAPTURE=1.

Installs the agent in every Python process of the environment, so steps that an
orchestrator launches as subprocesses or worker processes are captured unchanged.
A process that `replay capture` already runs in-process is not installed twice.
"""

from __future__ import annotations


def _start() -> None:
    import sys

    args = sys.orig_argv[1:]
    if args[:2] == ["-m", "replay"] or (sys.argv and sys.argv[0].endswith("/replay")):
        return  # the `replay` command itself; `replay capture` watches its own step
    try:
        from replay.capture import install

        install()
    except Exception as exc:  # the hook may never break someone's interpreter
        sys.stderr.write(f"replay: warning: startup hook failed ({type(exc).__name__}: {exc})\n")


_start()
