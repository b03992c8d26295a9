"""How to connect over SSH, beyond what a target and the SSH config say.

Plain data and its command-line options, kept apart from `ssh` so that parsing a
command line (or `replay fetch FOLDER`) never imports paramiko.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field


def print_notice(message: str) -> None:
    print(f"replay: {message}", file=sys.stderr)


@dataclass(frozen=True)
class SSHOptions:
    """Connection settings shared by fetch, push and tunnels."""

    identities: tuple[str, ...] = ()
    """Private key files offered first (`-i`); an explicit one must exist."""
    known_hosts: str | None = None
    """The known_hosts file to check and extend; default: the config's, else ~/.ssh/known_hosts."""
    config: str | None = None
    """The SSH config file; default ~/.ssh/config when it exists."""
    accept_new_host_key: bool = False
    """Trust on first use: record an unknown host's key. A changed key is still refused."""
    timeout: float = 15.0
    keepalive: int = 30
    notice: Callable[[str], None] = field(default=print_notice, compare=False)
    """Where to say what the user should know (a host key was added)."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The SSH options of every command that connects somewhere."""
        group = parser.add_argument_group("SSH")
        group.add_argument(
            "-i",
            "--identity",
            action="append",
            default=[],
            metavar="KEY",
            help="private key to offer (repeatable); ssh-agent and IdentityFile keys are tried too",
        )
        group.add_argument(
            "--accept-new-host-key",
            action="store_true",
            help="trust an unknown host's key and add it to known_hosts"
            " (a CHANGED key is always refused)",
        )
        group.add_argument(
            "--known-hosts", metavar="FILE", help="known_hosts file (default ~/.ssh/known_hosts)"
        )
        group.add_argument(
            "-F", "--ssh-config", metavar="FILE", help="SSH config file (default ~/.ssh/config)"
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SSHOptions:
        return cls(
            identities=tuple(args.identity),
            known_hosts=args.known_hosts,
            config=args.ssh_config,
            accept_new_host_key=args.accept_new_host_key,
        )
