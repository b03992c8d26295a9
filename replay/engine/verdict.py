"""Compare a replay's outcome with the captured failure.

The signature of a failure is its exception type and its failure site (the file,
relative to the source root, and the function). The message and the line are
supporting evidence: a fix that moves lines must not turn `reproduced` into
`different`, and a message with a different row id is still the same bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from replay.document import item_at, relative_to_root

Kind = Literal["reproduced", "different", "passed"]


@dataclass
class Signature:
    type: str
    file: str
    function: str
    line: int
    message: str

    def key(self) -> tuple[str, str, str]:
        return (self.type, self.file, self.function)

    def describe(self) -> str:
        where = f"{self.file}:{self.line} in {self.function}" if self.file else "no user frame"
        return f"{self.type}: {self.message[:200]} at {where}"


@dataclass
class Verdict:
    verdict: Kind
    capture_id: str
    exit_code: int
    captured: Signature | None
    replayed: Signature | None
    same_message: bool | None = None
    notes: list[str] = field(default_factory=list)
    platform_log: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def captured_signature(manifest: Mapping[str, Any]) -> Signature | None:
    """The captured failure's signature, from the manifest as plain validated data."""
    f = manifest["failure"]
    if f is None:
        return None
    site = item_at(f["frames"], f["site"])
    root = manifest["step"]["source_root"]
    return Signature(
        type=f["type"],
        file=relative_to_root(site["file"], root) if site else "",
        function=site["function"] if site else "",
        line=site["line"] if site else 0,
        message=f["message"],
    )


def judge(
    manifest: Mapping[str, Any], replayed: Signature | None, exit_code: int
) -> tuple[Kind, bool | None]:
    """The verdict, and whether the messages matched (None when there is nothing to compare)."""
    if replayed is None:
        return ("passed" if exit_code == 0 else "different"), None
    captured = captured_signature(manifest)
    if captured is None:
        return "different", None
    same_message = captured.message == replayed.message
    return ("reproduced" if captured.key() == replayed.key() else "different"), same_message
