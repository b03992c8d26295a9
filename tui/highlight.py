"""Syntax colouring of a whole source file into one `Text` per line.

Done once per file text (cached), and callable from a worker thread, so stepping
through a long file never re-colours it on the UI thread.
"""

from __future__ import annotations

from functools import lru_cache

from rich.syntax import Syntax
from rich.text import Text

THEME = "ansi_dark"
"""Terminal colours: readable on any palette, and the same in every snapshot."""


@lru_cache(maxsize=32)
def highlight(path: str, text: str) -> tuple[Text, ...]:
    lexer = Syntax.guess_lexer(path, text)
    coloured = Syntax(text, lexer, theme=THEME).highlight(text)
    lines = list(coloured.split("\n", allow_blank=True))
    if lines and not lines[-1].plain and text.endswith("\n"):
        lines = lines[:-1]
    return tuple(lines)
