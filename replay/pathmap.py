"""Mapping a captured absolute path to its local place, by the longest known prefix.

Shared by the replay engine's workspace (which builds the map) and the platform
stand-ins inside the replayed step (which only read it). Standard library only.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def longest_first(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(original, local) pairs, originals normalised, the longest first."""
    return sorted(((os.path.normpath(o), local) for o, local in pairs), key=lambda p: -len(p[0]))


def map_prefix(path: str, pairs: list[tuple[str, str]]) -> str | None:
    """`path` under the first original prefix of `pairs` (from `longest_first`) that holds
    it, moved to that prefix's local place; None for a relative or unmapped path."""
    if not path.startswith("/"):
        return None
    norm = os.path.normpath(path)
    for original, local in pairs:
        if norm == original:
            return local
        if norm.startswith(original.rstrip("/") + "/"):
            return local + norm[len(original.rstrip("/")) :]
    return None
