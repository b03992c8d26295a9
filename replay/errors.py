"""The error hierarchy of `replay`.

Every error a user can cause carries its exit code, so the CLI turns it into one line on
stderr and a status without a traceback. Library callers catch `ReplayError`.
"""

from __future__ import annotations


class ReplayError(Exception):
    """A failure the user can act on; `exit_code` is what the CLI exits with."""

    exit_code: int = 1


class UsageError(ReplayError):
    """The command line or a configuration value is wrong."""

    exit_code = 2


class StoreError(ReplayError):
    """The store cannot be read or written (missing, unwritable, unreachable)."""

    exit_code = 1


class CaptureNotFound(StoreError):
    """No capture matches the given id or prefix, or the prefix is ambiguous."""

    exit_code = 2


class UntrustedCaptureError(ReplayError):
    """A capture failed validation: bad schema, wrong hash, a path escaping its place.

    Captures come from other machines and are read as untrusted input; this error names
    what is wrong and never shows a traceback.
    """

    exit_code = 2


class ReplaySetupError(ReplayError):
    """A replay cannot start: a missing reference input, secret, or refused pickle."""

    exit_code = 2
