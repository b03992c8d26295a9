"""replay: capture a failing pipeline step where it runs, replay it under a debugger.

The public surface is small and cheap to import, because `import replay` runs inside
other people's jobs:

    import replay
    replay.install()              # capture this process if it fails

    @replay.boundary              # record this call at capture, serve it back at replay
    def load_features(day): ...

Everything else (the store, the replay engine, the TUI) loads only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["install", "boundary", "capture_step", "__version__"]

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the agent ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from replay.boundaries import boundary
    from replay.capture import install


def capture_step(fn: Any = None, *, name: str | None = None) -> Any:
    """Decorator: capture a failure of `fn` (for entry points called by an orchestrator).

    The exception still propagates unchanged after the capture is written.
    """

    def wrap(func: Any) -> Any:
        import functools

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from replay.capture.scope import captured

            with captured(name or func.__name__):
                return func(*args, **kwargs)

        return wrapper

    return wrap(fn) if fn is not None else wrap


def __getattr__(attr: str) -> Any:
    if attr == "install":
        from replay.capture import install

        return install
    if attr == "boundary":
        from replay.boundaries import boundary

        return boundary
    raise AttributeError(f"module 'replay' has no attribute {attr!r}")
