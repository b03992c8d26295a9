"""Safe, bounded text summaries of a failing frame's locals.

A local can be anything: a DataFrame of a billion rows, an object whose `__repr__`
raises or recurses, a secret. Each summary is bounded in length, never lets an
exception escape, and knows the usual data types by name so that pandas and numpy
values are described by shape and dtype without importing those libraries here.
"""

from __future__ import annotations

import reprlib
from types import FrameType, ModuleType

TYPE_CHECKING = False  # `collections.abc` loads `collections`: ~2.5 ms of a failing job's capture
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MAX_VALUE = 1000
MAX_LOCALS = 60

_repr = reprlib.Repr()
_repr.maxstring = 300
_repr.maxother = 300
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 20
_repr.maxlevel = 4


def _clip(text: str, limit: int = MAX_VALUE) -> str:
    return text if len(text) <= limit else text[: limit - 15] + f"... ({len(text)} chars)"


def _dataframe(df: object) -> str:
    shape = getattr(df, "shape", "?")
    dtypes = getattr(df, "dtypes", None)
    kinds = ", ".join(f"{k}: {v}" for k, v in list(dtypes.items())[:20]) if dtypes is not None else ""
    head = df.head(3).to_string(max_cols=12, max_colwidth=40)  # type: ignore[attr-defined]
    return f"DataFrame shape={shape} dtypes={{{kinds}}}\n{head}"


def _series(s: object) -> str:
    head = s.head(5).to_string(max_rows=5)  # type: ignore[attr-defined]
    return f"Series name={getattr(s, 'name', None)!r} len={len(s)} dtype={getattr(s, 'dtype', '?')}\n{head}"  # type: ignore[arg-type]


def _ndarray(a: object) -> str:
    shape = getattr(a, "shape", "?")
    dtype = getattr(a, "dtype", "?")
    size = getattr(a, "size", 0)
    body = _repr.repr(a) if size <= 20 else ""
    return f"ndarray shape={shape} dtype={dtype} {body}".rstrip()


_BY_TYPE: dict[tuple[str, str], Callable[[object], str]] = {
    ("pandas.core.frame", "DataFrame"): _dataframe,
    ("pandas", "DataFrame"): _dataframe,
    ("pandas.core.series", "Series"): _series,
    ("pandas", "Series"): _series,
    ("numpy", "ndarray"): _ndarray,
}


def summarise(value: object) -> str:
    """A bounded description of `value` that never raises."""
    try:
        if isinstance(value, ModuleType):
            return f"<module {value.__name__}>"
        kind = type(value)
        describe = _BY_TYPE.get((kind.__module__, kind.__qualname__))
        text = describe(value) if describe else _repr.repr(value)
        return _clip(text)
    except Exception as exc:  # a broken __repr__ is the step's problem, not ours
        return f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"


def summarise_locals(
    frame: FrameType, scrub: Callable[[str, str], str], skip: Callable[[str, object], bool]
) -> dict[str, str]:
    """Summaries of a frame's locals, secrets scrubbed; module-level frames keep only
    the names the script defined (not imported modules, functions and classes)."""
    names: Mapping[str, object] = frame.f_locals
    out: dict[str, str] = {}
    for name, value in names.items():
        if len(out) >= MAX_LOCALS:
            out["..."] = f"{len(names) - MAX_LOCALS} more"
            break
        if name.startswith("__") or skip(name, value):
            continue
        out[name] = scrub(name, summarise(value))
    return out
