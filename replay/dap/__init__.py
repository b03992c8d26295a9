"""A small, typed Debug Adapter Protocol client for debugpy, used by the TUI and tests.

`attach()` gives a configured `DapSession`; `DapClient` is the raw connection. Only the
standard library is imported here, so importing `replay.dap` stays cheap; `nodelay`,
which imports debugpy, is for debuggees and is not re-exported.
"""

from replay.dap.client import DapClient
from replay.dap.errors import (
    DapConnectionError,
    DapConnectionLost,
    DapError,
    DapProtocolError,
    DapRequestError,
    DapTimeout,
    DebuggeeTerminated,
)
from replay.dap.model import (
    Breakpoint,
    DapEvent,
    EvaluateResult,
    ExceptionInfo,
    Scope,
    SourceBreakpoint,
    StackFrame,
    Stop,
    StoppedEvent,
    Thread,
    Variable,
)
from replay.dap.session import DapSession, attach

__all__ = [
    "Breakpoint",
    "DapClient",
    "DapConnectionError",
    "DapConnectionLost",
    "DapError",
    "DapEvent",
    "DapProtocolError",
    "DapRequestError",
    "DapSession",
    "DapTimeout",
    "DebuggeeTerminated",
    "EvaluateResult",
    "ExceptionInfo",
    "Scope",
    "SourceBreakpoint",
    "StackFrame",
    "Stop",
    "StoppedEvent",
    "Thread",
    "Variable",
    "attach",
]
