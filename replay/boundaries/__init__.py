"""Upstream boundaries: record calls at capture, serve their results at replay.

The capture agent and the replay engine use this page of functions; step authors use
`boundary` (re-exported as `replay.boundary`) and `[tool.replay] boundaries` in their
pyproject.toml. Importing this package loads only the standard library, because it is
imported on the success path of every captured job.

Capture agent, at start-up and when a capture is written::

    recorder = boundaries.start_recording(source_root)  # also patches [tool.replay] names
    stubs.watch_sdk()                                    # the platform SDK's entry points
    ...                                                  # the step runs
    upstream = recorder.to_calls(store, budget)          # only when a capture is written
    notes += recorder.notes

Replay engine, inside the replayed step's process, with the manifest as validated plain
data (`LocalStore.load_document`)::

    player = boundaries.start_replaying(document["upstream"], store, trust=trust,
                                        workdir=work / "upstream", path_map=orig_to_local,
                                        config_from=script)
    ...                                                  # the step runs
    player.served                                        # what was served, in order (kept for
                                                         # inspection; verdicts do not report it)
"""

from replay.boundaries.core import (
    Player,
    Recorder,
    UnrecordedCall,
    active,
    boundary,
    call,
    start_recording,
    start_replaying,
    stop,
)
from replay.boundaries.patching import configured, patch, patch_configured, unpatch_all

__all__ = [
    "Player",
    "Recorder",
    "UnrecordedCall",
    "active",
    "boundary",
    "call",
    "configured",
    "patch",
    "patch_configured",
    "start_recording",
    "start_replaying",
    "stop",
    "unpatch_all",
]


def _tell_agent() -> None:
    """A step that imports this module has boundaries: an active capture agent (whose
    module is loaded only when capturing) starts recording them."""
    import sys

    agent = sys.modules.get("replay.capture.agent")
    if agent is not None:
        agent.boundaries_imported()


_tell_agent()
