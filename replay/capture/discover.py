"""Find the real failure when the step's own exception never reached the top.

Orchestrators often run a step, catch its exception, log it and exit non-zero. The
exception that matters is then the `__context__` of the `SystemExit`, or the
`exc_info` of the last logged record; both still hold the failing frames.
"""

from __future__ import annotations

TYPE_CHECKING = False  # a step that never logged does not load logging for its capture
if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable


def real_failure(
    exc: BaseException | None, exit_code: int, records: Iterable[logging.LogRecord] = ()
) -> BaseException | None:
    """The exception to capture and replay for a step that ended with `exc`/`exit_code`."""
    if exc is not None and not isinstance(exc, SystemExit):
        return exc
    if exit_code == 0:
        return None
    seen: set[int] = set()
    node = exc.__context__ if exc is not None else None
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if not isinstance(node, SystemExit):
            return node
        node = node.__cause__ or node.__context__
    for record in reversed(list(records)):
        info = record.exc_info
        if info and isinstance(info, tuple) and isinstance(info[1], BaseException):
            return info[1]
    return exc
