"""Just enough JSONC (JSON with comments and trailing commas) to edit VS Code files
without losing the user's comments: parse for meaning, edit the text in place."""

from __future__ import annotations

import json
import re
from typing import Any


def _scan(text: str) -> list[tuple[int, str]]:
    """Significant characters with their offsets, skipping strings' insides and comments.

    Strings are reported as one `"` at their opening quote."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            out.append((i, '"'))
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            if not c.isspace():
                out.append((i, c))
            i += 1
    return out


def strip(text: str) -> str:
    """The text as plain JSON: comments blanked, trailing commas dropped."""
    chars = list(" " * len(text))
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            chars[i : j + 1] = text[i : j + 1]
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            chars[i] = c
            i += 1
    plain = "".join(chars)
    return re.sub(r",(\s*[\]}])", r" \1", plain)


def loads(text: str) -> Any:
    return json.loads(strip(text))


def array_elements(text: str, key: str) -> tuple[int, list[tuple[int, int]]] | None:
    """For the top-level `key` whose value is an array: the offset of its `[` and the
    (start, end) text span of each element."""
    tokens = _scan(text)
    depth = 0
    for idx, (pos, c) in enumerate(tokens):
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        elif c == '"' and depth == 1 and text.startswith(f'"{key}"', pos):
            nxt = tokens[idx + 2] if idx + 2 < len(tokens) else None
            if nxt is None or nxt[1] != "[":
                return None
            return nxt[0], _elements(text, tokens, idx + 2)
    return None


def _elements(text: str, tokens: list[tuple[int, str]], open_idx: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    depth = 0
    start: int | None = None
    last_end = 0
    for pos, c in tokens[open_idx + 1 :]:
        if depth == 0 and c in ",]":
            if start is not None:
                spans.append((start, last_end))
                start = None
            if c == "]":
                break
            continue
        if start is None:
            start = pos
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        last_end = pos + 1 if c != '"' else _string_end(text, pos)
    return spans


def _string_end(text: str, pos: int) -> int:
    j = pos + 1
    while j < len(text) and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return j + 1
