"""Threads for the capture agent, made with `_thread` rather than `threading`.

`threading` (with the `functools` and `collections` it loads) costs a failing job's
capture ~6 ms here, and the agent needs only to start a function and wait for it with a
deadline. Not importing it has a second use: the first import of `threading` names the
importing thread the process's main thread, so an agent thread must never be the first.
Unlike `threading`'s, these threads are invisible to `threading.enumerate()`, are not
reached by `threading.settrace` or `setprofile`, and are not waited for at exit (a
capture abandoned at its deadline stops there, as a daemon thread would).
"""

from __future__ import annotations

from _thread import allocate_lock, start_new_thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class Worker:
    """`target()` running on a thread of its own from construction on.

    Raises RuntimeError when no thread can be started. `target` is expected to catch
    its own errors: one that escapes is printed by `sys.unraisablehook`."""

    __slots__ = ("_target", "_done", "_finished")

    def __init__(self, target: Callable[[], object]) -> None:
        self._target = target
        self._finished = False
        self._done = allocate_lock()
        self._done.acquire()
        start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            self._target()
        finally:
            self._finished = True
            self._done.release()

    def join(self, timeout: float = -1) -> bool:
        """Wait for `target` to return, at most `timeout` seconds (-1: for good); True
        when it has. The answer is the flag, not the lock: an interrupt between taking
        the lock and giving it back must not make a later `join` wait in vain."""
        if not self._finished and self._done.acquire(timeout=timeout):
            self._done.release()
        return self._finished
