"""Exact JSON for plain Python values, so a recorded result comes back with its own types.

Plain JSON loses tuples, non-string keys and non-finite floats, and pydantic writes NaN as
null. This module keeps them, and paths, with a small tag (`{"$t": "tuple", "v": [...]}`); a dict
that happens to hold a `"$t"` key is tagged too, so no user value is ever misread as a tag.
Only exact built-in types qualify (an `IntEnum` is not an int here): anything else is left
to the other encoders. Standard library only: the recorder calls it on the job's path.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePath
from typing import Any

TAG = "$t"
MAX_NODES = 10_000
"""Bigger structures are not converted when a call is recorded (they are kept by reference)."""
MAX_DEPTH = 64


class NotJson(ValueError):
    """The value holds something that is not a plain built-in value, or is too big or deep."""


def to_tree(value: object, max_nodes: int = MAX_NODES) -> Any:
    """Return a JSON-compatible tree for `value`, or raise `NotJson`."""
    budget = [max_nodes]
    return _to(value, budget, 0)


def _to(value: Any, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise NotJson("too many items")
    if depth > MAX_DEPTH:
        raise NotJson("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {TAG: "float", "v": repr(value)}
    if kind is list:
        return [_to(v, budget, depth + 1) for v in value]
    if kind is tuple:
        return {TAG: "tuple", "v": [_to(v, budget, depth + 1) for v in value]}
    if kind is dict:
        items: dict[Any, Any] = value
        if all(type(k) is str for k in items) and TAG not in items:
            return {k: _to(v, budget, depth + 1) for k, v in items.items()}
        return {
            TAG: "dict",
            "v": [[_to(k, budget, depth + 1), _to(v, budget, depth + 1)] for k, v in items.items()],
        }
    if isinstance(value, PurePath):
        return {TAG: "path", "v": str(value)}
    raise NotJson(f"{kind.__module__}.{kind.__qualname__} is not a plain JSON value")


def from_tree(tree: Any) -> Any:
    """Inverse of `to_tree`. Raises `ValueError` on a malformed tag (captures are untrusted)."""
    if isinstance(tree, list):
        return [from_tree(v) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if TAG not in tree:
        return {k: from_tree(v) for k, v in tree.items()}
    tag, items = tree.get(TAG), tree.get("v")
    if tag == "float" and items in ("nan", "inf", "-inf"):
        return float(items)
    if tag == "path" and isinstance(items, str):
        return Path(items)
    if tag == "tuple" and isinstance(items, list):
        return tuple(from_tree(v) for v in items)
    if tag == "dict" and isinstance(items, list) and all(isinstance(p, list) and len(p) == 2 for p in items):
        return {_hashable(from_tree(k)): from_tree(v) for k, v in items}
    raise ValueError(f"malformed tagged JSON value: {str(tree)[:120]}")


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise ValueError(f"unhashable dict key in recorded value: {str(key)[:80]}") from None
    return key
