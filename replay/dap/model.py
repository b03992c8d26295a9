"""Typed records for the DAP bodies the TUI and the tests read.

Each record keeps only the fields we render or act on, and is built from the adapter's
JSON by `from_dap`, so the rest of the code never indexes raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DapEvent:
    """An event as it arrived; `body` is `{}` for body-less events such as `initialized`."""

    event: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Thread:
    id: int
    name: str

    @classmethod
    def from_dap(cls, data: dict[str, Any]) -> Thread:
        return cls(id=data["id"], name=data.get("name", ""))


@dataclass(frozen=True, slots=True)
class StackFrame:
    """One frame; `name` is the function, `path` is None for frames without a source file."""

    id: int
    name: str
    path: str | None
    line: int
    column: int

    @classmethod
    def from_dap(cls, data: dict[str, Any]) -> StackFrame:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            path=(data.get("source") or {}).get("path"),
            line=data.get("line", 0),
            column=data.get("column", 0),
        )


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    variables_reference: int
    presentation_hint: str | None
    expensive: bool

    @classmethod
    def from_dap(cls, data: dict[str, Any]) -> Scope:
        return cls(
            name=data.get("name", ""),
            variables_reference=data["variablesReference"],
            presentation_hint=data.get("presentationHint"),
            expensive=data.get("expensive", False),
        )


@dataclass(frozen=True, slots=True)
class Variable:
    """One row of a `variables` reply; `variables_reference > 0` means it can be expanded."""

    name: str
    value: str
    type: str
    variables_reference: int
    evaluate_name: str | None

    @classmethod
    def from_dap(cls, data: dict[str, Any]) -> Variable:
        return cls(
            name=data["name"],
            value=data.get("value", ""),
            type=data.get("type", ""),
            variables_reference=data.get("variablesReference", 0),
            evaluate_name=data.get("evaluateName"),
        )

    @property
    def is_group(self) -> bool:
        """True for debugpy's folder rows ("special variables", "function variables"...).

        They are not program variables: debugpy gives them an empty type.
        """
        return self.type == ""


@dataclass(frozen=True, slots=True)
class SourceBreakpoint:
    """A breakpoint to set; a bare line number means `SourceBreakpoint(line)`."""

    line: int
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None

    def to_dap(self) -> dict[str, Any]:
        fields = {
            "line": self.line,
            "condition": self.condition,
            "hitCondition": self.hit_condition,
            "logMessage": self.log_message,
        }
        return {key: value for key, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """The adapter's verdict on one requested breakpoint."""

    verified: bool
    line: int | None
    message: str | None

    @classmethod
    def from_dap(cls, data: dict[str, Any]) -> Breakpoint:
        return cls(
            verified=data.get("verified", False),
            line=data.get("line"),
            message=data.get("message"),
        )


@dataclass(frozen=True, slots=True)
class StoppedEvent:
    reason: str
    thread_id: int | None
    description: str | None
    text: str | None
    all_threads_stopped: bool

    @classmethod
    def from_dap(cls, body: dict[str, Any]) -> StoppedEvent:
        return cls(
            reason=body.get("reason", ""),
            thread_id=body.get("threadId"),
            description=body.get("description"),
            text=body.get("text"),
            all_threads_stopped=body.get("allThreadsStopped", False),
        )


@dataclass(frozen=True, slots=True)
class Stop:
    """Where a debuggee stopped: the event plus its stack, innermost frame first."""

    event: StoppedEvent
    thread_id: int
    frames: tuple[StackFrame, ...]

    @property
    def top(self) -> StackFrame:
        """The frame that is executing (the raising frame for an exception stop)."""
        return self.frames[0]


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    exception_id: str
    description: str | None
    break_mode: str
    details: dict[str, Any]

    @classmethod
    def from_dap(cls, body: dict[str, Any]) -> ExceptionInfo:
        return cls(
            exception_id=body.get("exceptionId", ""),
            description=body.get("description"),
            break_mode=body.get("breakMode", ""),
            details=body.get("details") or {},
        )


@dataclass(frozen=True, slots=True)
class EvaluateResult:
    result: str
    type: str
    variables_reference: int

    @classmethod
    def from_dap(cls, body: dict[str, Any]) -> EvaluateResult:
        return cls(
            result=body.get("result", ""),
            type=body.get("type", ""),
            variables_reference=body.get("variablesReference", 0),
        )
