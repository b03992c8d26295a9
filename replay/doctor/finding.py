"""What `replay doctor` says about a capture: one `Finding` per recognised pattern.

A finding is meant to be acted on without reading the capture: the evidence is the
exact text, paths and versions taken from the capture, and the fix is the concrete
change (the call to add, the version to pin, the option to set). Each finding also says
how sure it is, because a confident wrong diagnosis costs a user more than none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
Confidence = Literal["high", "medium", "low"]

SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}
CONFIDENCE_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
MAX_EVIDENCE_CHARS = 400
"""Evidence lines are quoted from the capture; a single log line can be huge."""


def clip(text: str, limit: int = MAX_EVIDENCE_CHARS) -> str:
    """One line of evidence: first line only, bounded, so output stays readable."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class Finding:
    """One known failure pattern recognised in a capture.

    `code` is stable (scripts and the TUI key on it); `message` is one line; `evidence`
    quotes the capture; `fix` is concrete; `confidence` says how sure the rule is.
    """

    code: str
    severity: Severity
    message: str
    fix: str
    confidence: Confidence
    evidence: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_ORDER:
            raise ValueError(f"finding {self.code}: unknown severity {self.severity!r}")
        if self.confidence not in CONFIDENCE_ORDER:
            raise ValueError(f"finding {self.code}: unknown confidence {self.confidence!r}")
        self.message = clip(self.message, 300)
        self.evidence = [line for line in (clip(e) for e in self.evidence) if line]

    def sort_key(self) -> tuple[int, int, str]:
        """Most severe first, then the surest, then by code for a stable order."""
        return (SEVERITY_ORDER[self.severity], CONFIDENCE_ORDER[self.confidence], self.code)

    def to_dict(self) -> dict[str, Any]:
        """The object `replay doctor --json` prints."""
        data = asdict(self)
        return {key: data[key] for key in ("code", "severity", "message", "evidence", "fix", "confidence")}
