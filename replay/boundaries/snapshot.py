"""What the recorder keeps of a result at the moment of the call.

Serialising happens only when a capture is written, but the step may mutate a result
long before that (`df["pred"] = ...`, `config["x"] = 1`), and the replay must serve what
the upstream returned, not what the step made of it. So at call time the recorder takes a
cheap snapshot: small plain values become their JSON tree, pandas objects a shallow copy
(new columns and, under copy-on-write, edits do not reach it), existing paths their
absolute form (the step may `chdir`), exceptions their type name and message (never the
exception object, whose traceback would pin every frame's locals). Anything else is kept
by reference. Standard library only.
"""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from replay.boundaries.jsontree import NotJson, to_tree

MAX_MESSAGE = 4000
MAX_PATH = 4096


class JsonResult(NamedTuple):
    tree: Any
    type_name: str


class PathResult(NamedTuple):
    """A result naming an existing file or folder; the replay returns a rebuilt copy."""

    absolute: str
    as_path: bool
    """True when the step got a `pathlib` path, False when it got a string."""


class NotKept(NamedTuple):
    """A result the recorder could not take; the replay reports `reason` if it is asked for."""

    reason: str


class RaisedError(NamedTuple):
    """An exception that crossed the boundary, reduced to safe facts."""

    module: str
    qualname: str
    message: str
    builtin: str
    """Nearest built-in ancestor (`ValueError` for `class MyError(ValueError)`)."""
    args: Any
    """`to_tree(exc.args)` when that works, else None."""

    @property
    def type_name(self) -> str:
        return dotted(self.module, self.qualname)


def dotted(module: str, qualname: str) -> str:
    """A type's name as users read it: `ValueError`, `pandas.DataFrame`."""
    return qualname if module == "builtins" else f"{module}.{qualname}"


def take(value: object) -> object:
    """The snapshot of a result (see the module docstring)."""
    if isinstance(value, (JsonResult, PathResult, RaisedError, NotKept)):
        return value
    path = _existing_path(value)
    if path is not None:
        return path
    try:
        return JsonResult(to_tree(value), type(value).__name__)
    except NotJson:
        pass
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series)):
        return value.copy(deep=False)
    return value


def _existing_path(value: object) -> PathResult | None:
    if isinstance(value, PurePath):
        text, as_path = str(value), True
    elif type(value) is str and os.sep in value:
        text, as_path = value, False
    else:
        return None
    if not 0 < len(text) < MAX_PATH or "\0" in text or not os.path.exists(text):
        return None
    return PathResult(os.path.abspath(text), as_path)


def files_under(root: Path, limit: int | None = None) -> list[tuple[str, Path]]:
    """The regular files of a folder result, as (posix relative path, path), in a stable
    order; symlinks to files are followed, linked folders are not (they may loop). With
    `limit`, the walk stops after `limit + 1` files: a result naming `/` must not make the
    capture walk the whole disk."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
                if limit is not None and len(found) > limit:
                    return found
    return found


def take_error(exc: BaseException) -> RaisedError:
    kind = type(exc)
    builtin = next(
        c.__name__
        for c in kind.__mro__
        if c.__module__ == "builtins" and getattr(builtins, c.__name__, None) is c
    )
    try:
        message = str(exc)
    except Exception:
        message = f"<{kind.__qualname__} with an unprintable message>"
    values = exc.args
    if isinstance(exc, OSError) and exc.filename is not None and len(values) == 2:
        # OSError keeps the file names outside `args`; its constructor takes them after.
        values = (*values, exc.filename, *(() if exc.filename2 is None else (None, exc.filename2)))
    try:
        args = to_tree(values, max_nodes=100)
    except NotJson:
        args = None
    return RaisedError(kind.__module__, kind.__qualname__, message[:MAX_MESSAGE], builtin, args)
