"""Names of remote places: `sftp://` store URLs and SSH targets.

Standard library only, so the CLI choosing a transport never imports paramiko. The
question "is this store remote?" is `replay.store.is_remote`, re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from replay.errors import UsageError
from replay.store import REMOTE_SCHEME as STORE_SCHEME
from replay.store import is_remote

__all__ = ["STORE_SCHEME", "StoreURL", "Target", "is_remote", "parse_store_url", "parse_target"]
TARGET_SCHEME = "ssh"


@dataclass(frozen=True)
class Target:
    """Where to connect: a host name, an address, or an `~/.ssh/config` alias.

    `user` and `port` are None when not given, so the SSH config (or the defaults) can
    supply them, as `ssh` does.
    """

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


@dataclass(frozen=True)
class StoreURL:
    """A store on an SFTP server. `path` is what the server is asked for: absolute, or
    relative to the login folder when the URL says `/~/path`."""

    target: Target
    path: str

    def __str__(self) -> str:
        path = self.path if self.path.startswith("/") else f"/~/{self.path}"
        return f"{STORE_SCHEME}://{self.target}{path}"



def _port(text: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"{text!r}: port must be a number from 1 to 65535")
    return int(value)


def parse_target(text: str) -> Target:
    """Read `user@host:port`, `ssh://user@host:port`, `[::1]:22` or a bare alias."""
    if text.startswith(f"{TARGET_SCHEME}://"):
        url = _split(text, TARGET_SCHEME)
        if url.path not in ("", "/"):
            raise UsageError(f"{text!r}: an ssh:// target takes no path")
        return _target_of(text, url)
    user, _, hostport = text.rpartition("@")
    host, port = hostport, None
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"{text!r}: expected [address]:port")
            port = _port(text, rest[1:])
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":")
        port = _port(text, port_text)
    if not host:
        raise UsageError(f"{text!r}: no host named (expected user@host[:port] or an ssh alias)")
    return Target(host=host, user=user or None, port=port)


def parse_store_url(text: str) -> StoreURL:
    """Read `sftp://[user@]host[:port]/path`; `/~/path` is relative to the login folder."""
    url = _split(text, STORE_SCHEME)
    path = unquote(url.path)
    if path in ("", "/"):
        raise UsageError(f"{text!r}: name the store's folder, e.g. sftp://me@host/srv/replay")
    if path.startswith("/~/"):
        path = path[3:]
    return StoreURL(target=_target_of(text, url), path=path.rstrip("/") or "/")


def _split(text: str, scheme: str) -> SplitResult:
    url = urlsplit(text)
    if url.scheme != scheme or not url.hostname:
        raise UsageError(f"{text!r}: expected {scheme}://[user@]host[:port]...")
    if url.query or url.fragment:
        raise UsageError(f"{text!r}: query strings and fragments are not supported")
    return url


def _target_of(text: str, url: SplitResult) -> Target:
    try:
        port = url.port
    except ValueError:
        raise UsageError(f"{text!r}: port must be a number from 1 to 65535") from None
    user = unquote(url.username) if url.username else None
    return Target(host=url.hostname or "", user=user, port=port)
