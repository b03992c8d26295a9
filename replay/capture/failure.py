"""Turn a live exception into the capture's failure record.

Runs while the failing frames are still alive, so the locals it summarises are the
ones the failure had: in a loop, the iteration that failed.
"""

from __future__ import annotations

import functools
import os
import sys
from types import FrameType, FunctionType, ModuleType, TracebackType

from replay.capture.summarise import summarise_locals
from replay.patterns import LazyPattern

TYPE_CHECKING = False  # typing costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_OWN_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """The standard library's folder (where `os` is; `lib-dynload` is inside it) and
    every installed-packages folder on the path. Not `sysconfig`: its import and its
    configuration data cost a failing job ~2 ms."""
    roots = {os.path.realpath(os.path.dirname(os.__file__))}
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


_CODING = LazyPattern(rb"[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", b"coding")
"""A PEP 263 encoding declaration, allowed on a file's first or second line."""


class SourceLines:
    """Source lines of the failing frames, each file read and decoded once.

    Not `linecache`: it loads `tokenize` for the encoding declaration alone. Like
    `linecache`, a relative file name is also looked for along `sys.path`, and a file
    that cannot be read falls back on its module's loader (a zip import); otherwise
    the line is empty."""

    def __init__(self) -> None:
        self._files: dict[str, list[str]] = {}

    def line(self, filename: str, frame: FrameType, lineno: int | None) -> str:
        """Line `lineno` of `filename`, the frame's file made absolute against the
        step's starting folder (a step may have changed folder since)."""
        lines = self._files.get(filename)
        if lines is None:
            lines = self._files[filename] = _read_lines(filename, frame)
        return lines[lineno - 1].strip() if isinstance(lineno, int) and 0 < lineno <= len(lines) else ""


def _read_lines(filename: str, frame: FrameType) -> list[str]:
    named = frame.f_code.co_filename
    if named.startswith("<") and named.endswith(">"):
        # Code made by `exec` (`<string>`, a dataclass's `__init__`): no file, and its
        # module's loader would give the module's lines. Only what was registered with
        # `linecache` (an IPython cell, attrs) is there, if `linecache` is loaded at all.
        cached = getattr(sys.modules.get("linecache"), "cache", {}).get(named)
        return _split("".join(cached[2])) if isinstance(cached, tuple) and len(cached) > 2 else []
    elsewhere = [] if os.path.isabs(named) else [os.path.join(d, named) for d in sys.path if d]
    for path in (filename, *elsewhere):
        try:
            with open(path, "rb") as f:
                return _split(decode_source(f.read()))
        except (OSError, ValueError):
            continue
    loader, name = frame.f_globals.get("__loader__"), frame.f_globals.get("__name__")
    try:
        source = loader.get_source(name) if loader is not None and name else None
    except Exception:  # a third-party loader: the line is only a nicety
        source = None
    return _split(source) if isinstance(source, str) else []


def _split(source: str) -> list[str]:
    """Lines as Python numbers them: `str.splitlines` would also split on form feeds
    and Unicode line separators, which a comment or string may hold."""
    return source.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def decode_source(data: bytes) -> str:
    """Python source as the interpreter decodes it: a UTF-8 byte order mark, else the
    encoding declared on line 1 or 2 (line 2 only after a comment or blank line
    1), else UTF-8; undecodable bytes are replaced rather than refused."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    encoding = "utf-8"
    for line in data.split(b"\n", 2)[:2]:
        if _CODING.may_match(line) and (match := _CODING.pattern.match(line)):
            encoding = match.group(1).decode("ascii")
            break
        if line.strip() and not line.lstrip().startswith(b"#"):
            break
    try:
        return data.decode(encoding, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


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
    shown: str | None = None,
) -> dict[str, Any]:
    """The `failure` section of a manifest for `exc` raised through `tb`; relative file
    names (a script started by a relative path) are made absolute against `cwd`.
    `shown`: the traceback as the job printed it, when known (else it is formatted)."""
    frames: list[dict[str, Any]] = []
    sources = SourceLines()
    node = tb
    while node is not None:
        frame, line = node.tb_frame, node.tb_lineno
        filename = frame.f_code.co_filename
        if not filename.startswith(("/", "<")):
            filename = os.path.join(cwd, filename)
        frames.append(
            {
                "file": filename,
                "line": line,
                "function": frame.f_code.co_name,
                "code": scrub_text(sources.line(filename, frame, line)),
                "user": not is_library_file(filename),
                "locals": summarise_locals(frame, scrub_local, _is_uninteresting),
            }
        )
        node = node.tb_next
    site = max((i for i, f in enumerate(frames) if f["user"]), default=None)
    if shown is None:
        import traceback

        shown = "".join(traceback.format_exception(type(exc), exc, tb))
    return {
        "type": type_name(exc),
        "message": scrub_text(str(exc))[:10_000],
        "traceback": scrub_text(shown)[-200_000:],
        "causes": _causes(exc, scrub_text),
        "frames": frames[-200:],
        "site": None if site is None else site - max(0, len(frames) - 200),
    }
