"""Regular expressions compiled on first use, and only once the text can match.

Importing `re` (with the `enum` and `functools` it loads) costs a failing job's capture
~12 ms here, and most of what the agent scans holds no secret and no encoding
declaration. So a pattern names literals that every match contains (`needles`): a text
without any of them is answered by `in`, at memchr speed, and `re` is never imported.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from re import Pattern
    from typing import Any


class LazyPattern:
    """`source` (str or bytes) compiled when `pattern` is first read; `may_match` says
    whether it is worth reading (no needles: always)."""

    __slots__ = ("source", "needles", "_compiled")

    def __init__(self, source: Any, *needles: Any) -> None:
        self.source = source
        self.needles = needles
        self._compiled: Pattern[Any] | None = None

    def may_match(self, data: Any) -> bool:
        return not self.needles or any(needle in data for needle in self.needles)

    @property
    def pattern(self) -> Pattern[Any]:
        if self._compiled is None:  # two threads may both compile it: same result
            import re

            self._compiled = re.compile(self.source)
        return self._compiled
