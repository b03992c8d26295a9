"""Errors raised by the DAP client.

They derive from `ReplayError` so the CLI reports a lost debugger as one line, and from
one `DapError` so the TUI can catch everything the debugger connection can throw.
"""

from __future__ import annotations

from typing import Any

from replay.errors import ReplayError


class DapError(ReplayError):
    """Anything that went wrong talking to a debug adapter."""


class DapProtocolError(DapError):
    """The byte stream is not valid DAP: bad header, oversize or non-JSON body.

    The stream cannot be resynchronised after this, so the connection is dropped.
    """


class DapConnectionError(DapError):
    """No connection to the adapter could be made."""


class DapConnectionLost(DapConnectionError):
    """The connection dropped; every request and event wait still pending fails with it."""


class DapTimeout(DapError, TimeoutError):
    """A response or an event did not arrive in time (the adapter may still be alive)."""


class DapRequestError(DapError):
    """The adapter answered a request with `success: false`; the message is the adapter's."""

    def __init__(self, command: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{command} failed: {message}")
        self.command = command
        self.adapter_message = message
        self.body = body or {}


class DebuggeeTerminated(DapError):
    """The debuggee ended (a `terminated` event) while we waited for it to stop."""
