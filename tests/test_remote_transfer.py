"""Publishing captures to a remote store over SFTP and fetching them back, against sshd."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from replay import cli
from replay.bundle import Manifest
from replay.errors import CaptureNotFound, StoreError, UntrustedCaptureError
from replay.remote.errors import RemotePathMissing, RemotePermissionDenied
from replay.remote.options import SSHOptions
from replay.remote.progress import TransferStats
from replay.remote.transfer import fetch, push
from replay.store import LocalStore
from tests.sshd import SSHServer, make_capture

BIG = 3 * 1024 * 1024 + 17
"""Larger than several SFTP reads, and not a multiple of any of them."""


class Interrupt(Exception):
    """Stands for a transfer killed part way."""


@pytest.fixture
def main():  # type: ignore[no-untyped-def]
    """`replay.cli.main`, called in-process."""
    return cli.main




@pytest.fixture
def capture(job: LocalStore) -> Manifest:
    files: dict[str, bytes] = {f"part-{i:02d}.csv": os.urandom(1000 + i) for i in range(30)}
    files["model.bin"] = os.urandom(BIG)
    files["empty.txt"] = b""
    return make_capture(job, files, lockfile=b'lock-version = "1.0"\n' * 5000)


@pytest.fixture
def remote_url(sshd: SSHServer, tmp_path: Path) -> str:
    return sshd.url(tmp_path / "remote-store")


@pytest.fixture
def published(
    job: LocalStore, capture: Manifest, remote_url: str, ssh_options: SSHOptions
) -> Manifest:
    push(job, capture.id, remote_url, options=ssh_options)
    return capture


def remote_root(url: str) -> Path:
    """The test server runs here, so a remote store is also a local folder."""
    return Path("/" + url.split("/", 3)[3])


def biggest_blob(manifest: Manifest) -> tuple[str, int]:
    return max(manifest.blobs(), key=lambda blob: blob[1])


def blob_bytes(store: LocalStore, digest: str) -> bytes:
    with store.open_blob(digest) as f:
        return f.read()


def test_push_then_fetch_brings_back_the_whole_capture(
    job: LocalStore, laptop: LocalStore, capture: Manifest, remote_url: str, ssh_options: SSHOptions
) -> None:
    pushed = push(job, capture.id[:6], remote_url, options=ssh_options)
    fetched = fetch(remote_url, laptop, options=ssh_options)

    assert pushed.transferred == [capture.id] and pushed.blobs == len(capture.blobs())
    assert fetched.transferred == [capture.id] and fetched.blobs == len(capture.blobs())
    assert laptop.load(capture.id) == capture
    assert laptop.verify(capture.id) == []
    assert os.listdir(laptop.tmp_dir) == []
    assert sorted(os.listdir(remote_root(remote_url) / "tmp")) == []


def test_remote_store_has_the_local_layout_and_read_only_blobs(
    published: Manifest, remote_url: str
) -> None:
    remote = LocalStore(remote_root(remote_url))
    assert remote.ids() == [published.id]
    assert remote.verify(published.id) == []
    digest, _ = biggest_blob(published)
    assert remote.blob_path(digest).stat().st_mode & 0o777 == 0o444


def test_fetching_an_unchanged_capture_moves_no_blob(
    published: Manifest, laptop: LocalStore, remote_url: str, ssh_options: SSHOptions
) -> None:
    fetch(remote_url, laptop, options=ssh_options)
    seen: list[TransferStats] = []

    again = fetch(remote_url, laptop, options=ssh_options, progress=seen.append)

    assert again.present == [published.id] and again.transferred == []
    assert again.blobs == 0 and again.bytes == 0 and seen == []


def test_pushing_an_unchanged_capture_moves_no_blob(
    published: Manifest, job: LocalStore, remote_url: str, ssh_options: SSHOptions
) -> None:
    again = push(job, published.id, remote_url, options=ssh_options)
    assert again.present == [published.id] and again.blobs == 0


def test_only_blobs_the_other_side_lacks_are_sent(
    published: Manifest,
    job: LocalStore,
    laptop: LocalStore,
    remote_url: str,
    ssh_options: SSHOptions,
) -> None:
    fetch(remote_url, laptop, options=ssh_options)
    model = blob_bytes(job, biggest_blob(published)[0])
    retry = make_capture(job, {"model.bin": model, "new.csv": b"a,b\n1,2\n"})

    pushed = push(job, retry.id, remote_url, options=ssh_options)
    fetched = fetch(remote_url, laptop, options=ssh_options)

    assert pushed.blobs == 1 and pushed.bytes == 8
    assert fetched.transferred == [retry.id] and fetched.blobs == 1 and fetched.bytes == 8


def test_fetch_by_id_prefix_takes_only_that_capture(
    published: Manifest,
    job: LocalStore,
    laptop: LocalStore,
    remote_url: str,
    ssh_options: SSHOptions,
) -> None:
    other = make_capture(job, {"x": b"other"})
    push(job, other.id, remote_url, options=ssh_options)

    report = fetch(remote_url, laptop, [other.id[:5]], options=ssh_options)

    assert report.transferred == [other.id]
    assert laptop.ids() == [other.id]
    with pytest.raises(CaptureNotFound):
        fetch(remote_url, laptop, ["ffffffffffff"], options=ssh_options)


def test_fetch_by_full_id_of_a_capture_already_here_does_not_contact_the_source(
    published: Manifest, laptop: LocalStore, remote_url: str, ssh_options: SSHOptions
) -> None:
    fetch(remote_url, laptop, options=ssh_options)

    again = fetch("sftp://nobody@127.0.0.1:1/nowhere", laptop, [published.id], options=ssh_options)

    assert again.present == [published.id] and again.blobs == 0


def interrupt_after(limit: int):  # type: ignore[no-untyped-def]
    def progress(stats: TransferStats) -> None:
        if stats.bytes_done >= limit:
            raise Interrupt

    return progress


def test_an_interrupted_fetch_resumes_mid_blob_and_verifies(
    published: Manifest,
    job: LocalStore,
    laptop: LocalStore,
    remote_url: str,
    ssh_options: SSHOptions,
) -> None:
    big, _ = biggest_blob(published)
    with pytest.raises(Interrupt):
        fetch(remote_url, laptop, options=ssh_options, progress=interrupt_after(BIG // 2))
    parts = {p.name: p.stat().st_size for p in laptop.tmp_dir.glob("*.part")}
    left = sum(len(blob_bytes(job, d)) for d, _ in published.blobs() if not laptop.has_blob(d))
    assert laptop.ids() == []
    assert 0 < parts[f"{big}.part"] < BIG

    resumed = fetch(remote_url, laptop, options=ssh_options)

    assert resumed.transferred == [published.id]
    assert resumed.bytes_resumed == sum(parts.values())
    assert resumed.bytes == left - resumed.bytes_resumed
    assert laptop.verify(published.id) == []
    assert list(laptop.tmp_dir.glob("*.part")) == []


def test_a_fetch_killed_by_a_signal_mid_blob_resumes(
    published: Manifest, laptop: LocalStore, remote_url: str, sshd: SSHServer
) -> None:
    script = f"""
import os, signal
from replay.remote.options import SSHOptions
from replay.remote.transfer import fetch
from replay.store import LocalStore
def die(stats):
    if stats.bytes_done > {BIG // 2}:
        os.kill(os.getpid(), signal.SIGKILL)
options = SSHOptions(identities=({str(sshd.client_key)!r},), known_hosts={str(sshd.known_hosts)!r})
fetch({remote_url!r}, LocalStore({str(laptop.root)!r}), progress=die, options=options)
"""
    killed = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parent.parent, timeout=60
    )
    assert killed.returncode == -9
    assert laptop.ids() == []

    resumed = fetch(
        remote_url,
        laptop,
        options=SSHOptions(identities=(str(sshd.client_key),), known_hosts=str(sshd.known_hosts)),
    )

    assert resumed.bytes_resumed > 0
    assert laptop.verify(published.id) == []


def test_a_tampered_remote_blob_is_rejected_and_nothing_is_published(
    published: Manifest, laptop: LocalStore, remote_url: str, ssh_options: SSHOptions
) -> None:
    digest, size = biggest_blob(published)
    blob = LocalStore(remote_root(remote_url)).blob_path(digest)
    blob.chmod(0o644)
    with open(blob, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\x00tampered\x00")

    with pytest.raises(UntrustedCaptureError) as rejected:
        fetch(remote_url, laptop, options=ssh_options)

    assert digest[:12] in str(rejected.value) and "altered" in str(rejected.value)
    assert published.id in str(rejected.value)
    assert laptop.ids() == []
    assert not laptop.has_blob(digest)
    assert list(laptop.tmp_dir.glob("*.part")) == []


def test_a_blob_missing_remotely_holds_the_capture_back(
    published: Manifest, laptop: LocalStore, remote_url: str, ssh_options: SSHOptions
) -> None:
    digest, _ = biggest_blob(published)
    LocalStore(remote_root(remote_url)).blob_path(digest).unlink()

    with pytest.raises(RemotePathMissing, match="does not exist"):
        fetch(remote_url, laptop, options=ssh_options)

    assert laptop.ids() == []


def test_an_interrupted_push_resumes_from_the_remote_part(
    job: LocalStore, capture: Manifest, remote_url: str, ssh_options: SSHOptions
) -> None:
    with pytest.raises(Interrupt):
        push(job, capture.id, remote_url, options=ssh_options, progress=interrupt_after(BIG // 2))
    remote = LocalStore(remote_root(remote_url))
    assert remote.ids() == []

    resumed = push(job, capture.id, remote_url, options=ssh_options)

    assert resumed.transferred == [capture.id] and resumed.bytes_resumed > 0
    assert remote.verify(capture.id) == []
    assert list(remote.tmp_dir.iterdir()) == []


def test_a_missing_remote_store_is_named_clearly(
    sshd: SSHServer, laptop: LocalStore, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    with pytest.raises(RemotePathMissing, match=f"{tmp_path}/nowhere does not exist"):
        fetch(sshd.url(tmp_path / "nowhere"), laptop, options=ssh_options)


def test_a_folder_that_is_not_a_store_is_named_clearly(
    sshd: SSHServer, laptop: LocalStore, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a replay store"):
        fetch(sshd.url(tmp_path / "plain"), laptop, options=ssh_options)


def test_pushing_where_writes_are_refused_says_permission_denied(
    job: LocalStore, capture: Manifest, remote_url: str, sshd: SSHServer, ssh_options: SSHOptions
) -> None:
    read_only = dataclasses.replace(ssh_options, identities=(str(sshd.readonly_key),))
    with pytest.raises(RemotePermissionDenied, match="permission denied for"):
        push(job, capture.id, remote_url, options=read_only)


def test_fetching_where_listing_is_refused_says_permission_denied(
    published: Manifest,
    laptop: LocalStore,
    remote_url: str,
    sshd: SSHServer,
    ssh_options: SSHOptions,
) -> None:
    unlisted = dataclasses.replace(ssh_options, identities=(str(sshd.unlisted_key),))
    with pytest.raises(RemotePermissionDenied, match=r"permission denied for .*captures"):
        fetch(remote_url, laptop, options=unlisted)


def test_fetch_from_a_store_folder_uses_the_same_rules(
    published: Manifest, job: LocalStore, laptop: LocalStore
) -> None:
    first = fetch(str(job.root), laptop)
    again = fetch(str(job.root), laptop)

    assert first.transferred == [published.id] and laptop.verify(published.id) == []
    assert again.present == [published.id] and again.blobs == 0


def test_cli_fetch_prints_a_json_report(
    main,
    published: Manifest,
    laptop: LocalStore,
    remote_url: str,
    sshd: SSHServer,
    ssh_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(
        [
            "fetch",
            remote_url,
            published.id[:4],
            "--store",
            str(laptop.root),
            "--json",
            "-i",
            str(sshd.client_key),
            "--known-hosts",
            str(sshd.known_hosts),
        ]
    )

    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["transferred"] == [published.id]
    assert report["blobs"] == len(published.blobs())


def test_cli_fetch_refuses_an_unknown_host_in_one_line_then_trusts_it_when_asked(
    main,
    published: Manifest,
    laptop: LocalStore,
    remote_url: str,
    sshd: SSHServer,
    ssh_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["fetch", remote_url, "--store", str(laptop.root), "-i", str(sshd.client_key)]

    refused = main(args)
    err = capsys.readouterr().err

    assert refused == 1
    assert err.startswith("replay: host key of [127.0.0.1]") and err.count("\n") == 1
    assert main([*args, "--accept-new-host-key"]) == 0
    trusted = capsys.readouterr()
    assert "trusting new host key" in trusted.err
    assert trusted.out.startswith(f"fetched {published.id}\n")
    assert (
        (ssh_home / ".ssh" / "known_hosts")
        .read_text()
        .startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    )
    assert laptop.ids() == [published.id]
