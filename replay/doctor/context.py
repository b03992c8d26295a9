"""What a rule sees: the capture, plus cheap, memoised views of it that several rules need.

Rules stay pure functions of this object. Everything here is read from the manifest or,
for the captured source files and the other captures, from the store; nothing is
executed and nothing is trusted (text is only matched, never evaluated). Without a store
the views that need one come back empty, so rules that depend on them find nothing
rather than guess.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from replay.bundle import FileRef, Frame, Manifest

if TYPE_CHECKING:
    from replay.store import LocalStore

MAX_SOURCE_BYTES = 1 << 20
"""Captured project files (requirements, pyproject) larger than this are not read."""

_MISSING_FILE = re.compile(r"No such file or directory: ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def short_type(name: str) -> str:
    """`numpy._core._exceptions._ArrayMemoryError` -> `_ArrayMemoryError`."""
    return name.rpartition(".")[2]


@dataclass
class Context:
    """The capture under diagnosis. Rules read it; they never change it."""

    manifest: Manifest
    store: LocalStore | None = None
    _texts: dict[str, str | None] = field(default_factory=dict, repr=False)

    # -- the failure ----------------------------------------------------------
    @cached_property
    def failure_chain(self) -> list[tuple[str, str]]:
        """(type, message) of the failure and each chained cause, outermost first."""
        failure = self.manifest.failure
        if failure is None:
            return []
        return [(failure.type, failure.message), *((c.type, c.message) for c in failure.causes)]

    def failure_types(self) -> set[str]:
        """Short type names in the chain (`ModuleNotFoundError`, `_ArrayMemoryError`)."""
        return {short_type(t) for t, _ in self.failure_chain}

    @cached_property
    def headline(self) -> str:
        """`Type: message`, the line a user would search for."""
        if not self.failure_chain:
            return ""
        kind, message = self.failure_chain[0]
        return f"{kind}: {message}" if message else kind

    @cached_property
    def frames(self) -> list[Frame]:
        return self.manifest.failure.frames if self.manifest.failure else []

    def site(self) -> Frame | None:
        """The innermost user frame: where the user's code met the failure."""
        return self.manifest.failure.site_frame() if self.manifest.failure else None

    def site_where(self) -> str:
        """`score.py:27 in main`, or "" when there is no site."""
        frame = self.site()
        return "" if frame is None else f"{os.path.basename(frame.file)}:{frame.line} in {frame.function}"

    def site_line(self) -> str:
        """`score.py:27 in main: open(path, "w")`, or "" when there is no site."""
        frame = self.site()
        if frame is None or not frame.code:
            return self.site_where()
        return f"{self.site_where()}: {frame.code.strip()}"

    def failure_evidence(self) -> list[str]:
        """The evidence most findings start with: the failure's headline and its site."""
        return [line for line in (self.headline, self.site_line()) if line]

    def missing_file(self) -> str | None:
        """The path a `FileNotFoundError` (or errno 2 `OSError`) in the chain names."""
        for _, message in self.failure_chain:
            match = _MISSING_FILE.search(message)
            if match:
                try:
                    value = ast.literal_eval(match.group(1))
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, str) and value:
                    return value
        return None

    # -- text to search -------------------------------------------------------
    @cached_property
    def lines(self) -> list[str]:
        """Every line of failure text in the capture, the failure's own first: messages
        and causes, the tries of a mini-batch, then the stderr and stdout tails and the
        logged records. Rules grep these for the messages a pattern leaves behind."""
        out: list[str] = []
        for kind, message in self.failure_chain:
            first, *rest = (message or "").splitlines() or [""]
            out.append(f"{kind}: {first}" if first else kind)
            out.extend(rest)
        for attempt in self.minibatch_tries:
            out.append(f"{attempt.get('type', '')}: {attempt.get('message', '')}")
        logs = self.manifest.logs
        out.extend(logs.stderr.splitlines())
        out.extend(logs.stdout.splitlines())
        out.extend(r.message for r in logs.records)
        return [line.strip() for line in out if line.strip()]

    def grep(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        """Matches of `pattern` in `lines`, once per distinct line."""
        seen: set[str] = set()
        for line in self.lines:
            if line in seen:
                continue
            seen.add(line)
            match = pattern.search(line)
            if match:
                yield match

    # -- batch (mini-batch) captures ----------------------------------------------
    def extra_dict(self, key: str) -> dict[str, Any]:
        """`manifest.extra[key]` when it is a mapping, else {} (extra is free-form)."""
        value = self.manifest.extra.get(key)
        return value if isinstance(value, dict) else {}

    @cached_property
    def minibatch_tries(self) -> list[dict[str, Any]]:
        """The tries of a failed mini-batch (`extra["tries"]`), well-formed ones only."""
        tries = self.manifest.extra.get("tries")
        if not isinstance(tries, list):
            return []
        return [t for t in tries if isinstance(t, dict) and isinstance(t.get("type"), str)]

    # -- the captured source --------------------------------------------------
    @cached_property
    def source_files(self) -> dict[str, FileRef]:
        """Captured source files by their path relative to the source root."""
        return {ref.path: ref for ref in self.manifest.step.sources}

    def source_text(self, path: str) -> str | None:
        """The captured content of a source file, or None (no store, not copied, too big)."""
        if path not in self._texts:
            self._texts[path] = self._read_source(path)
        return self._texts[path]

    def _read_source(self, path: str) -> str | None:
        ref = self.source_files.get(path)
        if self.store is None or ref is None or not ref.sha256 or not ref.copied:
            return None
        if ref.size > MAX_SOURCE_BYTES:
            return None
        from replay.errors import ReplayError

        try:
            return self.store.read_blob(ref.sha256, limit=MAX_SOURCE_BYTES).decode("utf-8", "replace")
        except (ReplayError, OSError):
            return None

    # -- other captures in the store --------------------------------------------
    @cached_property
    def other_captures(self) -> list[dict[str, Any]]:
        """Summaries (`replay ls --json` rows) of every other capture in the store."""
        if self.store is None:
            return []
        return [row for row in self.store.list() if row.get("id") != self.manifest.id]
