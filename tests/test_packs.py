"""Packs: many small blobs in one file, read in place by every reader of a store, and
read as untrusted."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from replay import packs
from replay.errors import UntrustedCaptureError
from replay.hashing import SMALL
from replay.store import LocalStore
from tests.conftest import run_replay

CONTENTS = [b"first blob\n", b"second blob, longer\n" * 50, b""]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packed(store: LocalStore, contents: list[bytes]) -> Path:
    """A pack of `contents` written through the store; its path."""
    writer = store.new_pack()
    assert [writer.add(c) for c in contents] == [sha(c) for c in contents]
    writer.close()
    (pack,) = (store.root / "packs").iterdir()
    return pack


def test_each_packed_blob_is_read_in_place(store, tmp_path):
    pack = packed(store, [*CONTENTS, CONTENTS[0]])  # the same content twice: stored once
    assert packs.is_pack_name(pack.name) and stat.S_IMODE(pack.stat().st_mode) == 0o444
    assert len(packs.read_entries(str(pack))) == len(CONTENTS)
    assert not list(store.blobs_dir.iterdir()) and not list(store.tmp_dir.iterdir())
    for data in CONTENTS:
        digest = sha(data)
        assert store.has_blob(digest) and store.blob_size(digest) == len(data)
        assert store.read_blob(digest) == data
        with store.open_blob(digest) as f:
            assert f.read() == data
        store.copy_blob(digest, tmp_path / "out" / "copy")
        assert (tmp_path / "out" / "copy").read_bytes() == data
        assert store.check_blob(digest) is None
    absent = sha(b"never stored")
    assert not store.has_blob(absent) and store.blob_size(absent) is None
    assert store.check_blob(absent) == f"blob {absent} is missing"


@pytest.mark.parametrize("count", [3, 600])  # a stat per blob, or one listing per shard
def test_present_names_packed_blobs_and_blob_files_alike(store, count):
    files = [f"file {i}".encode() for i in range(count)]
    in_pack = [f"packed {i}".encode() for i in range(count)]
    for data in files:
        store.add_bytes(data)
    packed(store, in_pack)
    asked = {sha(d) for d in files + in_pack + [b"neither"]}
    assert store.present(asked) == {sha(d) for d in files + in_pack}


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "temporary name"])
def test_a_pack_is_named_only_once_closed_and_discard_leaves_nothing(store, monkeypatch, unnamed):
    """Without a name while written (a killed writer leaves nothing), or, where the
    filesystem has no unnamed files, under a temporary name in tmp/."""
    if not unnamed:
        monkeypatch.setattr(packs, "open_unnamed", lambda folder: None)
    writer = store.new_pack()
    writer.add(b"data")
    assert not store.has_blob(sha(b"data"))
    assert len(list(store.tmp_dir.iterdir())) == (0 if unnamed else 1)
    writer.discard()
    assert not list(store.tmp_dir.iterdir()) and not list((store.root / "packs").iterdir())
    kept = store.new_pack()
    kept.add(b"data")
    kept.close()
    assert store.read_blob(sha(b"data")) == b"data" and not list(store.tmp_dir.iterdir())
    (pack,) = (store.root / "packs").iterdir()
    assert stat.S_IMODE(pack.stat().st_mode) == 0o444
    empty = store.new_pack()
    empty.close()  # nothing was added: no pack at all
    assert list((store.root / "packs").iterdir()) == [pack]


def test_a_process_killed_while_it_packs_leaves_nothing(store, tmp_path):
    script = tmp_path / "packer.py"
    script.write_text(
        "import sys, time\n"
        "from replay.store import LocalStore\n"
        "writer = LocalStore(sys.argv[1]).new_pack()\n"
        "writer.add(b'x' * 1000)\n"
        "print('packing', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, str(script), str(store.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "packing\n"
    finally:
        child.kill()
        child.wait(10)
    assert not list(store.tmp_dir.iterdir()) and not list((store.root / "packs").iterdir())


@pytest.mark.timeout(30)
def test_a_fifo_in_place_of_a_pack_or_a_blob_is_not_waited_on(store):
    os.mkfifo(store.root / "packs" / ("0" * 16 + ".pack"))
    digest = sha(b"blob")
    os.makedirs(store.blob_path(digest).parent)
    os.mkfifo(store.blob_path(digest))
    fresh = LocalStore(store.root)
    assert not fresh.has_blob(sha(b"other")) and fresh.present({sha(b"other")}) == set()
    with pytest.raises(UntrustedCaptureError, match="not a regular file"):
        fresh.open_blob(digest)
    assert fresh.check_blob(digest) == f"blob {digest} is missing"


def test_a_pack_claiming_more_blobs_than_any_pack_holds_is_refused_unread(store):
    """A sparse file can claim a table of any size; it is refused before it is read."""
    count = packs.MAX_ENTRIES + 1
    pack = store.root / "packs" / ("1" * 16 + ".pack")
    with open(pack, "wb") as f:
        f.write(packs.MAGIC)
        f.truncate(len(packs.MAGIC) + count * packs.ENTRY.size)  # a hole: nothing written
        f.seek(0, os.SEEK_END)
        f.write(packs.TRAILER.pack(len(packs.MAGIC), count, packs.MAGIC))
    with pytest.raises(UntrustedCaptureError, match="over"):
        packs.read_entries(str(pack))
    assert not LocalStore(store.root).has_blob(sha(b"anything"))


def test_content_packed_lately_is_not_packed_again(store, tmp_path):
    """A folder made again with the same content (other stats, another path) costs no
    second copy of its bytes."""
    from replay.capture.files import PARALLEL_FROM, Copier, walk_files

    for name in ("first", "again"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(PARALLEL_FROM + 8):
            (folder / f"part-{i}.csv").write_text(f"id\n{i}\n")
    first = Copier(store).many(walk_files(str(tmp_path / "first"), 1000))
    packed_once = sorted(p.name for p in (store.root / "packs").iterdir())
    again = Copier(store).many(walk_files(str(tmp_path / "again"), 1000))
    assert again == first
    assert sorted(p.name for p in (store.root / "packs").iterdir()) == packed_once
    assert all(store.check_blob(digest) is None for digest, _ in again)


def test_a_file_over_the_pack_limit_gets_its_own_blob(store, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (SMALL + 1))
    small = tmp_path / "small.txt"
    small.write_text("small\n")
    writer = store.new_pack()
    big_digest, _ = store.add_file(big, writer)
    small_digest, _ = store.add_file(small, writer)
    writer.close()
    assert store.blob_path(big_digest).is_file()
    assert not store.blob_path(small_digest).exists() and store.has_blob(small_digest)


def _damage(pack: Path, how: str) -> None:
    data = bytearray(pack.read_bytes())
    entry_start = struct.unpack_from("<Q", data, len(data) - packs.TRAILER.size)[0]
    if how == "truncated":
        del data[-5:]
    elif how == "bad magic":
        data[-1] ^= 1
    elif how == "entry past the data":
        packs.ENTRY.pack_into(data, entry_start, b"\x01" * 32, 8, entry_start)
    elif how == "entry over the limit":
        packs.ENTRY.pack_into(data, entry_start, b"\x01" * 32, 8, SMALL + 1)
    elif how == "empty":
        data.clear()
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "how", ["truncated", "bad magic", "entry past the data", "entry over the limit", "empty"]
)
def test_a_damaged_pack_holds_nothing(store, how):
    pack = packed(store, CONTENTS)
    _damage(pack, how)
    with pytest.raises(UntrustedCaptureError):
        packs.read_entries(str(pack))
    digests = {sha(c) for c in CONTENTS}
    fresh = LocalStore(store.root)  # what another process would see
    assert fresh.present(digests) == set() and not fresh.has_blob(sha(CONTENTS[0]))
    with pytest.raises(UntrustedCaptureError, match="is missing"):
        fresh.read_blob(sha(CONTENTS[0]))


def test_a_file_in_packs_that_is_not_named_as_a_pack_is_ignored(store):
    pack = packed(store, CONTENTS)
    pack.rename(pack.with_name("stray.pack"))
    assert not LocalStore(store.root).has_blob(sha(CONTENTS[0]))


def test_altered_packed_bytes_are_refused_by_every_reader(store, tmp_path):
    pack = packed(store, CONTENTS)
    data = bytearray(pack.read_bytes())
    data[len(packs.MAGIC)] ^= 0xFF  # the first blob's first byte
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    digest = sha(CONTENTS[0])
    assert store.check_blob(digest) == f"blob {digest} does not match its hash"
    with pytest.raises(UntrustedCaptureError, match="does not match its hash"):
        store.read_blob(digest)
    target = tmp_path / "copy"
    with pytest.raises(UntrustedCaptureError, match="does not match its hash"):
        store.copy_blob(digest, target)
    assert not target.exists()
    assert store.check_blob(sha(CONTENTS[1])) is None  # the other blobs stand


# -- a capture of a folder of many files, end to end --------------------------------------
STEP = """\
import pathlib, sys
total = sum(int(p.read_text().split()[1].split(",")[1]) for p in pathlib.Path(sys.argv[1]).iterdir())
raise ValueError(f"total {total}")
"""


@pytest.fixture
def captured(tmp_path: Path, clean_env: dict[str, str], store_dir: Path) -> tuple[str, Path]:
    """A capture whose input folder of 60 files is packed; its id and the folder."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(60):
        (data / f"part-{i:02d}.csv").write_text(f"id,value\n{i},{i * i}\n")
    step = tmp_path / "job" / "step.py"
    step.parent.mkdir()
    step.write_text(STEP)
    result = run_replay(["capture", "--", "python", str(step), str(data)], clean_env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    capture_id = result.stderr.split("replay: captured ")[1].split()[0]
    assert list((store_dir / "packs").iterdir())
    return capture_id, data


def _folder_files(store_dir: Path, capture_id: str) -> list[dict]:
    manifest = json.loads((store_dir / "captures" / capture_id / "manifest.json").read_text())
    (item,) = [i for i in manifest["inputs"] if i["kind"] == "dir"]
    return item["files"]


def test_a_packed_capture_verifies_and_its_blobs_are_the_files(captured, store_dir, clean_env):
    capture_id, data = captured
    verify = run_replay(["verify", capture_id], clean_env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    store = LocalStore(store_dir)
    files = _folder_files(store_dir, capture_id)
    assert len(files) == 60
    for ref in files:
        assert store.read_blob(ref["sha256"]) == (data / ref["path"]).read_bytes()
        assert not store.blob_path(ref["sha256"]).exists()  # packed, not one file each


def test_verify_finds_an_altered_packed_blob(captured, store_dir, clean_env):
    capture_id, _ = captured
    for pack in (store_dir / "packs").iterdir():
        data = bytearray(pack.read_bytes())
        data[len(packs.MAGIC)] ^= 0xFF
        pack.chmod(0o644)
        pack.write_bytes(bytes(data))
    result = run_replay(["verify", capture_id], clean_env)
    assert result.returncode == 2
    assert "does not match its hash" in result.stdout


def test_a_packed_capture_exports_and_imports_whole(captured, tmp_path, clean_env):
    capture_id, data = captured
    archive = tmp_path / "bug.tar.gz"
    assert run_replay(["export", capture_id, "-o", str(archive)], clean_env).returncode == 0
    other = tmp_path / "other"
    env = {**clean_env, "REPLAY_STORE": str(other)}
    imported = run_replay(["import", str(archive)], env)
    assert imported.returncode == 0, imported.stderr
    assert run_replay(["verify", capture_id], env).returncode == 0
    for ref in _folder_files(other, capture_id):  # imported as blob files
        assert LocalStore(other).blob_path(ref["sha256"]).read_bytes() == (data / ref["path"]).read_bytes()


def test_a_packed_capture_is_fetched_from_a_store_folder_left_as_it_was(
    captured, store_dir, tmp_path, clean_env
):
    """A store folder may be a read-only mount of a job's outputs: its packs are read in
    place, nothing is unpacked into it."""
    capture_id, _ = captured
    before = sorted((p.relative_to(store_dir), p.stat().st_size) for p in store_dir.rglob("*"))
    env = {**clean_env, "REPLAY_STORE": str(tmp_path / "laptop")}
    fetched = run_replay(["fetch", str(store_dir), capture_id], env)
    assert fetched.returncode == 0, fetched.stderr
    assert run_replay(["verify", capture_id], env).returncode == 0
    assert sorted((p.relative_to(store_dir), p.stat().st_size) for p in store_dir.rglob("*")) == before


def test_a_packed_capture_is_rebuilt_by_run(captured, clean_env, tmp_path):
    capture_id, data = captured
    shutil.rmtree(data)  # the replay reads the capture's copy, not the original
    result = run_replay(["run", capture_id, "--json"], clean_env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    verdict = json.loads(result.stdout)
    # The same sum over the 60 files: each came back from its pack.
    assert verdict["verdict"] == "reproduced" and verdict["same_message"] is True
    assert f"ValueError: total {sum(i * i for i in range(60))}" in result.stderr


@pytest.mark.parametrize("stated", [0, 5, 10, 20])
def test_a_file_read_for_its_blob_is_read_to_its_end_whatever_its_stat_said(tmp_path, stated):
    """`add_file` reads as many bytes as the file's `fstat` gave (and one more): a file
    that grew or shrank since is still read whole."""
    from replay.store import _read_whole

    path = tmp_path / "data"
    path.write_bytes(bytes(range(10)))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _read_whole(fd, stated) == bytes(range(10))
    finally:
        os.close(fd)


def test_a_store_made_before_packs_reads_and_gets_them(store):
    (store.root / "packs").rmdir()
    digest = store.add_bytes(b"a blob file")
    assert store.present({digest, sha(b"other")}) == {digest} and store.check_blob(digest) is None
    packed(store, CONTENTS)  # the folder is made for the first pack
    assert store.has_blob(sha(CONTENTS[1]))


def test_blobs_are_looked_for_in_the_newest_packs_first(store, monkeypatch):
    """A store gathers packs; a capture asking for what it just packed reads only the
    newest pack's table."""
    old = packed(store, [b"old one", b"old two"])
    os.utime(old, ns=(1, 1))
    writer = store.new_pack()
    new_digests = {writer.add(b"new one"), writer.add(b"new two")}
    writer.close()
    read: list[str] = []
    real = packs.read_entries
    monkeypatch.setattr(packs, "read_entries", lambda path: read.append(path) or real(path))
    fresh = LocalStore(store.root)
    assert fresh.present(new_digests) == new_digests
    assert len(read) == 1 and read[0] != str(old)
    assert fresh.present({sha(b"old one")} | new_digests) == {sha(b"old one")} | new_digests
    assert len(read) == 2  # the older pack only once it was needed, and each table once


def test_a_pack_unreadable_for_a_moment_is_read_at_the_next_look(store, monkeypatch):
    """Only a damaged pack holds nothing for good; one that could not be read (too many
    open files, say) is tried again."""
    packed(store, CONTENTS)
    real = packs.read_entries
    failures = [OSError(24, "Too many open files")]

    def read_entries(path):
        if failures:
            raise failures.pop()
        return real(path)

    monkeypatch.setattr(packs, "read_entries", read_entries)
    fresh = LocalStore(store.root)
    assert not fresh.has_blob(sha(CONTENTS[0]))
    assert fresh.has_blob(sha(CONTENTS[0])) and fresh.read_blob(sha(CONTENTS[1])) == CONTENTS[1]


def test_a_known_packed_blob_is_found_without_listing_packs_again(store, monkeypatch):
    pack = packed(store, CONTENTS)
    fresh = LocalStore(store.root)
    assert fresh.has_blob(sha(CONTENTS[0]))
    listed: list[str] = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listed.append(str(path)) or real(path))
    for data in CONTENTS:
        assert fresh.read_blob(sha(data)) == data and fresh.blob_size(sha(data)) == len(data)
    assert str(pack.parent) not in listed


def test_a_capture_does_not_read_back_the_packs_it_has_just_written(store, tmp_path, monkeypatch):
    from replay.capture.files import PARALLEL_FROM, Copier, walk_files

    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(PARALLEL_FROM + 8):
        (folder / f"part-{i}.csv").write_text(f"id\n{i}\n")
    read: list[str] = []
    real = packs.read_entries
    monkeypatch.setattr(packs, "read_entries", lambda path: read.append(path) or real(path))
    files = walk_files(str(folder), 1000)
    copier = Copier(store)
    copier.listing(str(folder), "files:x", files)
    assert read == [] and list((store.root / "packs").iterdir())
    held_in = json.loads(copier.listings[0][-1])
    assert held_in[1] == [] and sorted(held_in[0]) == sorted(p.name for p in (store.root / "packs").iterdir())
