"""Capture the failure of one call rather than of the whole process.

For entry points that an orchestrator calls and whose exceptions it swallows (a
batch-inference `run()`, a task function): the capture is written when the exception
passes through, and the exception continues unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from replay.capture import current_step
from replay.capture.agent import Agent
from replay.capture.options import CaptureOptions


@contextmanager
def captured(name: str, options: CaptureOptions | None = None) -> Iterator[Agent]:
    options = options or CaptureOptions.from_env()
    agent = Agent(options, current_step(options, name))
    agent.start()
    try:
        yield agent
    except BaseException as exc:
        agent.finish(exc, exc.__traceback__, 1)
        raise
    else:
        agent.stop_watching()
