"""Just enough JSONC (JSON with comments and trailing commas) to edit VS Code files
without losing the user's comments: parse for meaning, edit the text in place."""

from __future__ import annotations

import json
import re
from typing import Any


def _pieces(text: str) -> list[tuple[int, int, str]]:
    """The text cut into (start, end, kind) pieces: "string", "comment" or "code"
    (one character each, whitespace included)."""
    out: list[tuple[int, int, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            j = _string_end(text, i)
            out.append((i, j, "string"))
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append((i, j, "comment"))
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append((i, j, "comment"))
        else:
            j = i + 1
            out.append((i, j, "code"))
        i = j
    return out


def _scan(text: str) -> list[tuple[int, str]]:
    """Significant characters with their offsets; a string is one `"` at its opening quote."""
    return [
        (start, text[start])
        for start, _, kind in _pieces(text)
        if kind == "string" or (kind == "code" and not text[start].isspace())
    ]


def strip(text: str) -> str:
    """The text as plain JSON: comments blanked, trailing commas dropped."""
    plain = "".join(" " * (end - start) if kind == "comment" else text[start:end]
                    for start, end, kind in _pieces(text))
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
