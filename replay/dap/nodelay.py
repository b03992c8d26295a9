"""Give pydevd's socket to its adapter TCP_NODELAY (debugpy issue 2054).

pydevd writes a message as separate `send()` calls; with Nagle's algorithm on and the
adapter delaying its ACK, every DAP round trip while stopped costs about 40 ms. Setting
TCP_NODELAY brought one request from 43.9 ms to 0.64 ms here (REFERENCE H). debugpy has
no option for it, so we wrap pydevd's `start_client`, which makes that socket.

Call `enable_pydevd_nodelay()` inside the debuggee before `debugpy.listen()`. It relies
on pydevd internals: if they moved it does nothing and returns False (no speed-up, no
crash). Subprocesses started with `spawn` import pydevd afresh and are not patched.
"""

from __future__ import annotations

import functools
import socket
from typing import Any

_MARK = "_replay_nodelay"


def enable_pydevd_nodelay() -> bool:
    """Patch pydevd so its adapter connection uses TCP_NODELAY; True if patched."""
    try:
        import debugpy.server  # noqa: F401  # puts debugpy's vendored pydevd on sys.path
        import pydevd  # type: ignore[import-not-found]  # vendored, untyped
        from _pydevd_bundle import pydevd_comm  # type: ignore[import-not-found]
    except ImportError:
        return False
    original = getattr(pydevd_comm, "start_client", None)
    if not callable(original):
        return False
    if getattr(original, _MARK, False):
        return True

    @functools.wraps(original)
    def start_client(*args: Any, **kwargs: Any) -> Any:
        sock = original(*args, **kwargs)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (AttributeError, OSError):
            pass  # not a TCP socket after all: keep pydevd's behaviour
        return sock

    setattr(start_client, _MARK, True)
    # `pydevd` imported the function by name, so its own reference must be replaced too.
    for module in (pydevd_comm, pydevd):
        if getattr(module, "start_client", None) is original:
            module.start_client = start_client
    return True
