"""Fetching over SFTP from a store whose blobs a job wrote into packs, against sshd."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from replay import cli
from replay.bundle import Manifest
from replay.packs import read_entries
from replay.remote.options import SSHOptions
from replay.remote.progress import TransferStats
from replay.remote.transfer import fetch
from replay.store import LocalStore
from tests.conftest import run_replay
from tests.sshd import SSHServer, make_capture

STEP = "import sys\nraise SystemExit(f'failed on {sys.argv[1]}')\n"
PACKED = 2 * 1024 * 1024 + 5
"""A packed blob bigger than several SFTP reads (packs hold blobs up to 4 MiB)."""


class Interrupt(Exception):
    """Stands for a fetch killed part way."""




def packed_capture(store: LocalStore, files: dict[str, bytes]) -> Manifest:
    """A capture of `files` whose blobs are all in one pack and none is a file, as a
    job's agent leaves a folder of small files."""
    manifest = make_capture(store, files)
    pack = store.new_pack()
    for content in files.values():
        pack.add(content)
    pack.close()
    for digest, _ in manifest.blobs():
        store.blob_path(digest).unlink()
    assert all(store.has_blob(d) for d, _ in manifest.blobs())
    return manifest


def only_pack(store: LocalStore) -> Path:
    (pack,) = (store.root / "packs").iterdir()
    return pack


def blob_bytes(store: LocalStore, digest: str) -> bytes:
    with store.open_blob(digest) as f:
        return f.read()


def fetch_cli(url: str, laptop: LocalStore, sshd: SSHServer) -> int:
    keys = ["-i", str(sshd.client_key), "--known-hosts", str(sshd.known_hosts)]
    return cli.main(["fetch", url, "--store", str(laptop.root), *keys])


def test_a_folder_the_agent_packed_is_fetched_whole(
    tmp_path: Path,
    clean_env: dict[str, str],
    store_dir: Path,
    laptop: LocalStore,
    sshd: SSHServer,
    ssh_options: SSHOptions,
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(45):
        (folder / f"f{i:02d}.csv").write_text(f"id,value\n{i},{i * i}\n" * (i + 1))
    step = tmp_path / "step.py"
    step.write_text(STEP)
    captured = run_replay(["capture", "--", "python", str(step), str(folder)], clean_env, cwd=tmp_path)
    assert captured.returncode == 1, captured.stderr
    capture_id = captured.stderr.split("replay: captured ")[1].split()[0]
    manifest = json.loads((store_dir / "captures" / capture_id / "manifest.json").read_text())
    (item,) = [i for i in manifest["inputs"] if i["kind"] == "dir"]
    remote = LocalStore(store_dir)
    assert len(item["files"]) == 45 and list((store_dir / "packs").iterdir())
    assert not any(remote.blob_path(f["sha256"]).exists() for f in item["files"])  # all packed

    report = fetch(sshd.url(store_dir), laptop, options=ssh_options)

    assert report.transferred == [capture_id]
    verify = run_replay(["verify", capture_id], {**clean_env, "REPLAY_STORE": str(laptop.root)})
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for record in item["files"]:
        assert blob_bytes(laptop, record["sha256"]) == (folder / record["path"]).read_bytes()
    assert list(laptop.tmp_dir.iterdir()) == []


def test_a_packed_blob_altered_remotely_fails_the_fetch_and_is_not_stored(
    job: LocalStore,
    laptop: LocalStore,
    sshd: SSHServer,
    ssh_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = {f"part-{i:02d}.csv": os.urandom(300 + i) for i in range(10)}
    manifest = packed_capture(job, files)
    victim = next(d for d, size in manifest.blobs() if size == 305)
    pack = only_pack(job)
    offset, size = read_entries(str(pack))[victim]
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.seek(offset + size // 2)
        byte = f.read(1)
        f.seek(offset + size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))

    status = fetch_cli(sshd.url(job.root), laptop, sshd)

    err = capsys.readouterr().err
    assert status != 0
    assert victim[:12] in err and "altered" in err and manifest.id in err
    assert not laptop.has_blob(victim)
    assert laptop.ids() == []
    assert list(laptop.tmp_dir.glob("*.part")) == []
    others = [d for d, _ in manifest.blobs() if d != victim]
    assert all(laptop.check_blob(d) is None for d in others)  # the intact ones arrived


def test_a_packed_blob_whose_fetch_was_interrupted_resumes_where_it_stopped(
    job: LocalStore, laptop: LocalStore, sshd: SSHServer, ssh_options: SSHOptions
) -> None:
    big = os.urandom(PACKED)
    manifest = packed_capture(job, {"model.bin": big, "a.csv": b"a\n1\n", "b.csv": b"b\n2\n"})

    def interrupt(stats: TransferStats) -> None:
        if stats.bytes_done >= PACKED // 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        fetch(sshd.url(job.root), laptop, options=ssh_options, progress=interrupt)
    resumed = fetch(sshd.url(job.root), laptop, options=ssh_options)

    assert resumed.transferred == [manifest.id]
    assert 0 < resumed.bytes_resumed < PACKED
    assert laptop.verify(manifest.id) == []
    model = next(d for d, size in manifest.blobs() if size == PACKED)
    assert blob_bytes(laptop, model) == big


def test_damaged_and_foreign_files_in_remote_packs_do_not_stop_a_fetch_of_blob_files(
    job: LocalStore, laptop: LocalStore, sshd: SSHServer, ssh_options: SSHOptions
) -> None:
    files = {f"part-{i:02d}.csv": os.urandom(200 + i) for i in range(5)}
    manifest = make_capture(job, files)
    pack = job.new_pack()
    for content in files.values():
        pack.add(content)
    pack.close()
    truncated = only_pack(job)
    truncated.chmod(0o644)
    os.truncate(truncated, truncated.stat().st_size - 7)
    (job.root / "packs" / "README.txt").write_text("not a pack\n")
    (job.root / "packs" / "0123456789abcdef.pack").write_bytes(b"tiny")
    (job.root / "packs" / "fedcba9876543210.pack").mkdir()

    report = fetch(sshd.url(job.root), laptop, options=ssh_options)

    assert report.transferred == [manifest.id]
    assert laptop.verify(manifest.id) == []


def test_a_packed_capture_is_pushed_as_blob_files_and_comes_back_whole(
    job: LocalStore, laptop: LocalStore, sshd: SSHServer, ssh_options: SSHOptions, tmp_path: Path
) -> None:
    from replay.remote.transfer import push

    files = {f"part-{i}.csv": f"id\n{i}\n".encode() * (i + 1) for i in range(40)}
    manifest = packed_capture(job, files)
    remote = LocalStore(tmp_path / "remote")

    pushed = push(job, manifest.id, sshd.url(remote.root), options=ssh_options)

    assert pushed.transferred == [manifest.id] and pushed.blobs == len(manifest.blobs())
    assert all(remote.blob_path(d).read_bytes() == blob_bytes(job, d) for d, _ in manifest.blobs())
    assert fetch(sshd.url(remote.root), laptop, options=ssh_options).transferred == [manifest.id]
    assert laptop.verify(manifest.id) == []
