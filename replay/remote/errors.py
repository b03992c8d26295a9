"""What can go wrong with a remote store or tunnel, in words a user can act on.

paramiko and sockets raise a dozen exception types whose text names internals
("Error reading SSH protocol banner", "[Errno 111]"). They are translated here, at the
one boundary where `replay` talks to SSH, into `StoreError` subclasses that name the
host and say what to do; callers and the CLI never see a paramiko exception.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import paramiko

from replay.errors import StoreError


class RemoteError(StoreError):
    """An SSH connection or an SFTP operation failed."""


class HostUnreachable(RemoteError):
    """The host name does not resolve, or nothing answers at that address and port."""


class HostKeyError(RemoteError):
    """The server's host key is unknown or differs from `known_hosts`: refused."""


class AuthenticationRefused(RemoteError):
    """The server accepted none of the keys offered."""


class RemotePathMissing(RemoteError):
    """A remote file or folder does not exist."""


class RemotePermissionDenied(RemoteError):
    """The server refused to read or write a remote path."""


# SFTP version 3 status codes (draft-ietf-secsh-filexfer-02, section 7).
FX_OK = 0
FX_EOF = 1
FX_NO_SUCH_FILE = 2
FX_PERMISSION_DENIED = 3
FX_FAILURE = 4


def sftp_status_error(code: int, message: str, path: str, where: str) -> RemoteError:
    """The error for an SFTP status reply about `path` on `where` (a host)."""
    if code == FX_NO_SUCH_FILE:
        return RemotePathMissing(f"{where}: {path} does not exist")
    if code == FX_PERMISSION_DENIED:
        return RemotePermissionDenied(f"{where}: permission denied for {path}")
    detail = message or f"SFTP status {code}"
    return RemoteError(f"{where}: {path}: {detail}")


@contextmanager
def translated(where: str, timeout: float | None = None) -> Iterator[None]:
    """Turn socket and paramiko exceptions raised inside into `RemoteError`s about `where`."""
    try:
        yield
    except RemoteError:
        raise
    except socket.gaierror as exc:
        raise HostUnreachable(f"cannot resolve host {where}: {exc.strerror}") from exc
    except ConnectionRefusedError as exc:
        raise HostUnreachable(
            f"{where} refused the connection (is sshd running there, is the port right?)"
        ) from exc
    except TimeoutError as exc:
        after = f" within {timeout:g} s" if timeout else ""
        raise HostUnreachable(f"no answer from {where}{after}") from exc
    except paramiko.PasswordRequiredException as exc:
        raise AuthenticationRefused(
            f"{where}: a private key is encrypted; load it into ssh-agent (ssh-add KEY) and retry"
        ) from exc
    except paramiko.AuthenticationException as exc:
        raise AuthenticationRefused(
            f"{where} refused authentication: no offered key was accepted"
            " (check -i/--identity, IdentityFile in ~/.ssh/config, ssh-agent)"
        ) from exc
    except paramiko.ChannelException as exc:
        raise HostUnreachable(
            f"{where}: the SSH server could not open the channel: {exc.text}"
        ) from exc
    except paramiko.SSHException as exc:
        raise RemoteError(f"SSH with {where} failed: {exc}") from exc
    except EOFError as exc:
        raise RemoteError(f"{where} closed the connection") from exc
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNRESET, errno.EPIPE):
            raise HostUnreachable(f"cannot reach {where}: {exc.strerror}") from exc
        raise
