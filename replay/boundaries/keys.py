"""The argument key: a canonical, bounded text of a call's arguments.

At replay a call is matched to its recording by name and this text, so the text must come
out the same in another process on another machine: memory addresses in reprs are
masked, dict and set items are sorted, positional and keyword spellings of one call agree
(arguments are bound to the signature), and long texts are cut with a content hash so two
long strings still differ. Standard library only: it runs on the job's path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import inspect

MAX_ITEM = 200
"""Longest text of one value before it is cut and hashed."""
MAX_ITEMS = 50
"""Container items shown; the rest is counted."""
MAX_KEY = 2000
MAX_DEPTH = 6
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


def value_text(value: Any, depth: int = 0) -> str:
    """Canonical text of one argument value."""
    if depth > MAX_DEPTH:
        return "…"
    kind = type(value)
    if value is None or kind in (bool, int, float, complex):
        return repr(value)
    if isinstance(value, (str, bytes)):
        return _bounded(repr(value))
    if isinstance(value, PurePath):
        return f"Path({str(value)!r})"
    if kind in (list, tuple):
        open_, close = ("[", "]") if kind is list else ("(", ")")
        return open_ + _join((value_text(v, depth + 1) for v in value), len(value)) + close
    if isinstance(value, Mapping) and kind is dict:
        pairs = sorted(f"{value_text(k, depth + 1)}: {value_text(v, depth + 1)}" for k, v in value.items())
        return "{" + _join(pairs, len(pairs)) + "}"
    if kind in (set, frozenset):
        return "{" + _join(sorted(value_text(v, depth + 1) for v in value), len(value)) + "}"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and kind.__module__.split(".")[0] in ("numpy", "pandas"):
        # Array-likes: their repr depends on display options and costs O(n); shape is stable.
        return f"{kind.__qualname__}(shape={shape!r})"
    try:
        text = repr(value)
    except Exception:  # a user's __repr__ may fail; the key must not
        text = f"<{kind.__module__}.{kind.__qualname__}>"
    return _bounded(_ADDRESS.sub("0x…", text))


def _join(texts: Iterable[str], count: int) -> str:
    shown = []
    for i, t in enumerate(texts):
        if i == MAX_ITEMS:
            shown.append(f"…{count - MAX_ITEMS} more")
            break
        shown.append(t)
    return ", ".join(shown)


def _bounded(text: str, limit: int = MAX_ITEM) -> str:
    if len(text) <= limit:
        return text
    import hashlib  # only for long texts: every replayed step imports this module

    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{text[: limit // 2]}…[{len(text)} chars #{digest}]"


def named_key(named: Mapping[str, object]) -> str:
    """Key of explicitly named values, in the given order: `a=1, b='x'`."""
    return _bounded(", ".join(f"{k}={value_text(v)}" for k, v in named.items()), MAX_KEY)


def call_key(
    signature: inspect.Signature | None,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    ignore: Iterable[str] = (),
) -> str:
    """Key of one call. Bound to `signature` when possible, so `f(1)` and `f(a=1)` agree."""
    from inspect import Parameter

    skip = set(ignore)
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            pass  # the call itself will fail the same way; key it as given
        else:
            bound.apply_defaults()
            named: dict[str, object] = {}
            for name, value in bound.arguments.items():
                if name in skip:
                    continue
                kind = signature.parameters[name].kind
                if kind is Parameter.VAR_KEYWORD:
                    named.update(sorted(value.items()))
                elif kind is Parameter.VAR_POSITIONAL:
                    named[f"*{name}"] = tuple(value)
                else:
                    named[name] = value
            return named_key(named)
    positional = [value_text(a) for a in args]
    keywords = [f"{k}={value_text(v)}" for k, v in sorted(kwargs.items()) if k not in skip]
    return _bounded(", ".join(positional + keywords), MAX_KEY)


def signature_of(func: Callable[..., Any]) -> inspect.Signature | None:
    """The signature to bind calls to, or None for callables that do not expose one."""
    import inspect

    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None
