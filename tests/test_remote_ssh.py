"""Connecting to a real OpenSSH sshd: host keys, keys, ssh config, jumps, clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import paramiko
import pytest

from replay.errors import UsageError
from replay.remote.errors import AuthenticationRefused, HostKeyError, HostUnreachable
from replay.remote.options import SSHOptions
from replay.remote.ssh import connect
from tests.sshd import SSHServer, free_port, write_key


def test_known_host_and_authorized_key_connect(sshd: SSHServer, ssh_options: SSHOptions) -> None:
    with connect(sshd.target, ssh_options) as connection:
        assert connection.is_active()
        assert connection.label == sshd.target


def test_unknown_host_key_is_refused_showing_its_fingerprint(
    sshd: SSHServer, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    options = dataclasses.replace(ssh_options, known_hosts=str(empty))

    with pytest.raises(HostKeyError) as refused:
        connect(sshd.target, options)

    assert sshd.host_fingerprint in str(refused.value)
    assert "--accept-new-host-key" in str(refused.value)
    assert empty.read_text() == ""


def test_accept_new_host_key_records_it_once_and_then_it_is_known(
    sshd: SSHServer, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    notices: list[str] = []
    trusting = dataclasses.replace(
        ssh_options, known_hosts=str(known), accept_new_host_key=True, notice=notices.append
    )

    connect(sshd.target, trusting).close()
    connect(sshd.target, dataclasses.replace(trusting, accept_new_host_key=False)).close()

    assert known.read_text() == f"[127.0.0.1]:{sshd.port} {sshd.host_key_line}\n"
    assert len(notices) == 1 and sshd.host_fingerprint in notices[0]


def test_changed_host_key_is_refused_even_when_accepting_new_keys(
    sshd: SSHServer, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    impostor = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key))  # any other key
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {impostor.get_base64()}\n")
    options = dataclasses.replace(ssh_options, known_hosts=str(known), accept_new_host_key=True)

    with pytest.raises(HostKeyError) as refused:
        connect(sshd.target, options)

    message = str(refused.value)
    assert "CHANGED" in message
    assert sshd.host_fingerprint in message and impostor.fingerprint in message
    assert "ssh-keygen -R" in message
    assert known.read_text().count("\n") == 1


def test_hashed_known_hosts_entries_are_honoured(
    sshd: SSHServer, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    entry = paramiko.HostKeys()
    host_key = paramiko.Ed25519Key.from_private_key_file(str(sshd.dir / "host_ed25519"))
    hashed = paramiko.HostKeys.hash_host(f"[127.0.0.1]:{sshd.port}")
    entry.add(hashed, host_key.get_name(), host_key)
    known = tmp_path / "known_hosts"
    entry.save(str(known))

    connect(sshd.target, dataclasses.replace(ssh_options, known_hosts=str(known))).close()


def test_a_key_the_server_does_not_know_is_refused(
    sshd: SSHServer, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger_ed25519"
    write_key(stranger)

    with pytest.raises(AuthenticationRefused) as refused:
        connect(sshd.target, dataclasses.replace(ssh_options, identities=(str(stranger),)))

    assert "refused authentication" in str(refused.value)


def test_a_missing_identity_file_is_a_usage_error(
    sshd: SSHServer, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        connect(sshd.target, dataclasses.replace(ssh_options, identities=(str(tmp_path / "nope"),)))


def test_nothing_listening_is_an_unreachable_host(ssh_options: SSHOptions) -> None:
    port = free_port()
    with pytest.raises(HostUnreachable, match="refused the connection"):
        connect(f"me@127.0.0.1:{port}", ssh_options)


def test_an_unknown_host_name_is_an_unreachable_host(ssh_options: SSHOptions) -> None:
    with pytest.raises(HostUnreachable, match="cannot resolve"):
        connect("me@no-such-host.invalid", ssh_options)


def write_config(home: Path, text: str) -> None:
    (home / ".ssh" / "config").write_text(text)


def test_ssh_config_alias_supplies_hostname_user_port_and_identity(
    sshd: SSHServer, ssh_home: Path, tmp_path: Path
) -> None:
    write_config(
        ssh_home,
        f"Host jobbox\n  HostName 127.0.0.1\n  User {sshd.user}\n  Port {sshd.port}\n"
        f"  IdentityFile {sshd.client_key}\n  UserKnownHostsFile {sshd.known_hosts}\n",
    )

    with connect("jobbox") as connection:
        assert connection.endpoint.hostname == "127.0.0.1"
        assert connection.endpoint.port == sshd.port
        assert connection.label == f"jobbox ({sshd.target})"


def test_proxyjump_reaches_the_target_through_the_jump_host(
    sshd: SSHServer, ssh_home: Path
) -> None:
    write_config(
        ssh_home,
        f"Host bastion\n  HostName 127.0.0.1\n  Port {sshd.port}\n"
        f"Host inner\n  HostName 127.0.0.1\n  Port {sshd.port}\n  ProxyJump bastion\n"
        f"Host *\n  User {sshd.user}\n  IdentityFile {sshd.client_key}\n"
        f"  UserKnownHostsFile {sshd.known_hosts}\n",
    )

    with connect("inner") as connection:
        assert connection.via is not None and connection.via.endpoint.name == "bastion"
        _, stdout, _ = connection.client.exec_command("echo through")
        assert stdout.read() == b"through\n"
    assert not connection.via.is_active()


def test_proxycommand_is_refused_with_a_hint(ssh_home: Path) -> None:
    write_config(ssh_home, "Host old\n  ProxyCommand nc %h %p\n")
    with pytest.raises(UsageError, match="ProxyJump"):
        connect("old")
