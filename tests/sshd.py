"""A private OpenSSH `sshd` on 127.0.0.1 for tests and benchmarks.

The remote transport is only trustworthy if it is tested against the server users run,
so this starts the real `/usr/sbin/sshd` with its own configuration, host key, client
keys and `known_hosts` in a temporary folder, never touching the system's SSH setup,
and stops it by its pid. One server serves the whole test session; each test uses its
own store folders. sshd runs as the current user, so a remote path is also a local one
and tests can inspect or damage a remote store directly.

Tests get the `sshd`, `ssh_home` and `ssh_options` fixtures by listing this module in
`pytest_plugins`; scripts (the benchmarks) call `start_sshd(folder)`. `make_capture`
publishes a real capture with the store API, for anything that moves captures around.

Keys the server knows (all for the current user):
- `client_key`: full access.
- `readonly_key`: sessions forced into `internal-sftp -R`, so every write is refused
  with SSH_FX_PERMISSION_DENIED;
- `unlisted_key`: sessions forced into `internal-sftp -P opendir,open`, so listing a
  folder or opening a file is refused the same way.
Root ignores file modes, so this is how tests see "permission denied" without creating
system users.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from replay.store import LocalStore

if TYPE_CHECKING:
    from replay.bundle import Manifest
    from replay.remote.options import SSHOptions

SSHD = "/usr/sbin/sshd"
"""sshd refuses to re-exec unless started by absolute path."""
PRIVSEP_DIR = Path("/run/sshd")
READY_TIMEOUT = 10.0

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding yes
MaxStartups 100
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""


def write_key(path: Path) -> str:
    """Write a fresh ed25519 private key (OpenSSH format) to `path`; return its public line."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = public.decode()
    Path(f"{path}.pub").write_text(line + "\n")
    return line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SSHServer:
    """A running private sshd and everything a client needs to reach it."""

    dir: Path
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    user: str = field(default_factory=getpass.getuser)

    @property
    def client_key(self) -> Path:
        return self.dir / "client_ed25519"

    @property
    def host_fingerprint(self) -> str:
        """The server's host key fingerprint as OpenSSH prints it (SHA256:...)."""
        import paramiko

        return str(paramiko.Ed25519Key.from_private_key_file(str(self.dir / "host_ed25519")).fingerprint)

    @property
    def readonly_key(self) -> Path:
        return self.dir / "readonly_ed25519"

    @property
    def unlisted_key(self) -> Path:
        return self.dir / "unlisted_ed25519"

    @property
    def known_hosts(self) -> Path:
        """A known_hosts file naming this server's real host key."""
        return self.dir / "known_hosts"

    @property
    def host_key_line(self) -> str:
        return (self.dir / "host_ed25519.pub").read_text().strip()

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def url(self, path: str | os.PathLike[str]) -> str:
        """The `sftp://` URL of a store folder on this server."""
        return f"sftp://{self.user}@{self.host}:{self.port}{Path(path).absolute()}"

    def stop(self) -> None:
        """Stop the server by its pid and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def sshd_missing_reason() -> str | None:
    """Why a private sshd cannot run here, or None when it can."""
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is not installed (the Makefile's 'sshd' target installs openssh-server)"
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():  # only root's sshd chroots there
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
        except OSError as exc:
            return f"sshd needs its privilege-separation folder {PRIVSEP_DIR}: {exc.strerror}"
    return None


def start_sshd(folder: Path) -> SSHServer:
    """Start sshd on a free loopback port with fresh keys under `folder` (kept private)."""
    reason = sshd_missing_reason()
    if reason:
        raise RuntimeError(reason)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    host_line = write_key(folder / "host_ed25519")
    client_line = write_key(folder / "client_ed25519")
    readonly_line = write_key(folder / "readonly_ed25519")
    unlisted_line = write_key(folder / "unlisted_ed25519")
    (folder / "authorized_keys").write_text(
        f"{client_line}\n"
        f'command="internal-sftp -R" {readonly_line}\n'
        f'command="internal-sftp -P opendir,open" {unlisted_line}\n'
    )
    (folder / "authorized_keys").chmod(0o600)
    port = free_port()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_line}\n")
    config = folder / "sshd_config"
    config.write_text(CONFIG.format(port=port, dir=folder))
    with open(folder / "sshd.log", "wb") as log:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    server = SSHServer(dir=folder, port=port, process=process)
    _wait_listening(server)
    return server


def _wait_listening(server: SSHServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if b"Server listening" in server.log.read_bytes():
            return
        if server.process.poll() is not None:
            break
        time.sleep(0.01)
    server.stop()
    raise RuntimeError(f"sshd did not start:\n{server.log.read_text(errors='replace')}")


@pytest.fixture
def ssh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME with an empty ~/.ssh and no ssh-agent, so the developer's own SSH
    setup never leaks into a test (the CLI reads ~/.ssh/config and known_hosts)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
def ssh_options(sshd: SSHServer, ssh_home: Path) -> SSHOptions:
    """Options that reach the test sshd with the full-access key and its known host key."""
    from replay.remote.options import SSHOptions

    return SSHOptions(identities=(str(sshd.client_key),), known_hosts=str(sshd.known_hosts))


@pytest.fixture
def job(tmp_path: Path) -> LocalStore:
    """The store a remote job writes, which the test sshd serves (as this user, here)."""
    return LocalStore(tmp_path / "job")


@pytest.fixture
def laptop(tmp_path: Path) -> LocalStore:
    """The developer's local store, where fetches land."""
    return LocalStore(tmp_path / "laptop")


@pytest.fixture(scope="session")
def sshd() -> Iterator[SSHServer]:
    """One private sshd for the whole test session."""
    reason = sshd_missing_reason()
    if reason:
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="replay-sshd-"))
    server = start_sshd(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def make_capture(
    store: LocalStore, inputs: Mapping[str, bytes | Path], lockfile: bytes | None = None
) -> Manifest:
    """Publish a failed-step capture whose inputs are these files (bytes or paths).

    Built with the store API only, as the capture agent does, so remote tests and
    benchmarks move real captures without depending on the agent. A `lockfile` becomes
    the environment's `pylock.toml` blob, which manifests list without a size.
    """
    from replay.bundle import Environment, Input, Manifest, Outcome, Step

    store.ensure()
    recorded = []
    for name, content in inputs.items():
        if isinstance(content, Path):
            digest, size = store.add_file(content)
        else:
            digest, size = store.add_bytes(content), len(content)
        recorded.append(
            Input(path=f"/job/data/{name}", kind="file", how="argv", size=size, sha256=digest)
        )
    manifest = Manifest(
        id=store.new_id(),
        created="2026-11-27T12:00:00+00:00",
        status="failed",
        step=Step(
            name="score",
            argv=["score.py"],
            cwd="/job",
            mode="script",
            target="score.py",
            executable="/usr/bin/python3",
        ),
        outcome=Outcome(exit_code=1),
        inputs=recorded,
        environment=Environment(pylock=store.add_bytes(lockfile) if lockfile else None),
    )
    store.publish(manifest)
    return manifest
