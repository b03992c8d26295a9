"""Present a failure to a debugger after the fact, at native speed until then.

debugpy starts only when the failure has happened (so the step never pays for
tracing), and the exception is shown post-mortem at the failure site: the innermost
frame of user code, with the locals of the iteration that failed. Used by the replay
harness and by the agent's `--wait-for-debugger` on the remote job.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import types
from pathlib import Path
from types import FrameType, TracebackType

from replay.capture.failure import is_library_file


def site_of(tb: TracebackType | None) -> TracebackType | None:
    """The innermost traceback entry in user code."""
    found = None
    while tb is not None:
        if not is_library_file(tb.tb_frame.f_code.co_filename):
            found = tb
        tb = tb.tb_next
    return found


def truncate_at(tb: TracebackType | None, frame: FrameType) -> TracebackType | None:
    """A copy of `tb` that ends at `frame`, so the stop lands on the failure site even
    when the exception was raised deeper, inside a library."""
    entries: list[TracebackType] = []
    while tb is not None:
        entries.append(tb)
        if tb.tb_frame is frame:
            break
        tb = tb.tb_next
    new: TracebackType | None = None
    for entry in reversed(entries):
        new = types.TracebackType(new, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return new


def listen(host: str, port: int, ready_file: str | None = None) -> tuple[str, int]:
    """Start debugpy on (host, port); port 0 picks a free one. Sub-process debugging is
    off: the failure is in this process, and children would wait for a client forever."""
    import debugpy

    from replay.dap.nodelay import enable_pydevd_nodelay

    enable_pydevd_nodelay()
    debugpy.configure(subProcess=False)
    bound_host, bound_port = debugpy.listen((host, port))
    if ready_file:
        ready = Path(ready_file)
        tmp = ready.with_name(f".{ready.name}.tmp")
        tmp.write_text(json.dumps({"host": bound_host, "port": bound_port, "pid": os.getpid()}))
        os.replace(tmp, ready)
    return bound_host, bound_port


def wait_for_client(timeout: float | None) -> bool:
    """Block until a client has attached and configured; False when `timeout` passed."""
    import debugpy

    if timeout is not None:
        timer = threading.Timer(timeout, debugpy.wait_for_client.cancel)
        timer.daemon = True
        timer.start()
    debugpy.wait_for_client()
    return bool(debugpy.is_client_connected())


def present(exc: BaseException) -> None:
    """Stop the attached client at the failure site, post-mortem; returns when it resumes."""
    import debugpy

    tb = exc.__traceback__
    site = site_of(tb)
    if site is not None:
        tb = truncate_at(tb, site.tb_frame)
    debugpy.trigger_exception_handler((type(exc), exc, tb), as_uncaught=False)


def say(line: str) -> None:
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"replay: {line}\n")
    stream.flush()
