"""Turn a live exception into the capture's failure record.

Runs while the failing frames are still alive, so the locals it summarises are the
ones the failure had: in a loop, the iteration that failed.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from types import FrameType, FunctionType, ModuleType, TracebackType

from replay.capture.summarise import summarise_locals

TYPE_CHECKING = False  # typing costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_OWN_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


@functools.cache
def _library_roots() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {os.path.realpath(p) for k in ("stdlib", "platstdlib", "purelib", "platlib") if (p := paths.get(k))}
    roots |= {os.path.realpath(p) for p in sys.path if "site-packages" in p or "dist-packages" in p}
    return tuple(roots)


def is_library_file(path: str) -> bool:
    """True for the standard library, installed packages and replay itself."""
    if path.startswith("<"):
        return True
    real = os.path.realpath(path)
    return real.startswith(_library_roots()) or real.startswith(_OWN_ROOT + os.sep)


def type_name(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__ in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def trim_traceback(tb: TracebackType | None) -> TracebackType | None:
    """Drop the agent's and runpy's frames above the step's first frame, so the
    traceback reads exactly as it would without `replay capture`."""
    while tb is not None and is_library_file(tb.tb_frame.f_code.co_filename):
        if tb.tb_next is None:
            return tb
        tb = tb.tb_next
    return tb


def _is_uninteresting(name: str, value: object) -> bool:
    return isinstance(value, (ModuleType, type, FunctionType)) or name in ("_", "__builtins__")


def _causes(exc: BaseException, scrub: Callable[[str], str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen = {id(exc)}
    current: BaseException | None = exc
    while current is not None and len(out) < 10:
        if current.__cause__ is not None:
            nxt, relation = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            nxt, relation = current.__context__, "context"
        else:
            break
        if id(nxt) in seen:
            break
        seen.add(id(nxt))
        out.append({"type": type_name(nxt), "message": scrub(str(nxt))[:2000], "relation": relation})
        current = nxt
    return out


def describe_failure(
    exc: BaseException,
    tb: TracebackType | None,
    scrub_text: Callable[[str], str],
    scrub_local: Callable[[str, str], str],
    cwd: str,
) -> dict[str, Any]:
    """The `failure` section of a manifest for `exc` raised through `tb`; relative file
    names (a script started by a relative path) are made absolute against `cwd`."""
    frames: list[dict[str, Any]] = []
    entries: list[tuple[FrameType, int]] = []
    node = tb
    while node is not None:
        entries.append((node.tb_frame, node.tb_lineno))
        node = node.tb_next
    summaries = traceback.StackSummary.extract(
        ((f, line) for f, line in entries), capture_locals=False, lookup_lines=True
    )
    for (frame, line), summary in zip(entries, summaries):
        filename = frame.f_code.co_filename
        if not filename.startswith(("/", "<")):
            filename = os.path.join(cwd, filename)
        user = not is_library_file(filename)
        frames.append(
            {
                "file": filename,
                "line": line,
                "function": frame.f_code.co_name,
                "code": scrub_text(summary.line or ""),
                "user": user,
                "locals": summarise_locals(frame, scrub_local, _is_uninteresting),
            }
        )
    site = max((i for i, f in enumerate(frames) if f["user"]), default=None)
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {
        "type": type_name(exc),
        "message": scrub_text(str(exc))[:10_000],
        "traceback": scrub_text(text)[-200_000:],
        "causes": _causes(exc, scrub_text),
        "frames": frames[-200:],
        "site": None if site is None else site - max(0, len(frames) - 200),
    }
