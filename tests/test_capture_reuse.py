"""A second capture of an unchanged input folder reuses the first one's file records,
and anything that changed in between is captured afresh."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from replay.capture.files import (
    PARALLEL_FROM,
    Budget,
    Copier,
    capture_input,
    folder_fingerprint,
    walk_files,
)
from replay.capture.scan import FolderScan, files_of
from replay.errors import StoreError
from replay.hashing import hash_file
from replay.store import LocalStore
from tests.conftest import run_replay

STEP = "import sys\nraise SystemExit(f'failed on {sys.argv[1]}')\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "part").mkdir(parents=True)
    (data / ".git").mkdir()
    for i in range(40):
        (data / "part" / f"f{i:02d}.csv").write_text(f"id,value\n{i},{i * i}\n")
    (data / "top.txt").write_text("top\n")
    (data / ".git" / "HEAD").write_text("ref\n")  # not an input file: skipped by both walks
    return data


def capture(folder: Path, env: dict[str, str], tmp_path: Path, *options: str) -> dict:
    step = tmp_path / "job" / "step.py"
    step.parent.mkdir(exist_ok=True)
    step.write_text(STEP)
    result = run_replay(["capture", *options, "--", "python", str(step), str(folder)], env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    capture_id = result.stderr.split("replay: captured ")[1].split()[0]
    verify = run_replay(["verify", capture_id], env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return json.loads((Path(env["REPLAY_STORE"]) / "captures" / capture_id / "manifest.json").read_text())


def folder_input(manifest: dict) -> dict:
    (item,) = [i for i in manifest["inputs"] if i["kind"] == "dir"]
    return item


def record(folder: Path, copier: Copier) -> dict:
    """The folder's input record from `copier`, in-process, as the agent writes it."""
    item = capture_input(str(folder), "argv", copier, Budget(1 << 30, 1 << 30))
    copier.flush()
    for scan in copier.scans.values():
        scan.close()
    assert item is not None
    return item


def fingerprints(store_dir: Path) -> list[str]:
    with sqlite3.connect(store_dir / "index.sqlite") as db:
        return [row[0] for row in db.execute("SELECT fingerprint FROM listings")]


def test_an_unchanged_folder_gets_the_same_records_again(folder, clean_env, tmp_path, store_dir):
    first = folder_input(capture(folder, clean_env, tmp_path))
    second = folder_input(capture(folder, clean_env, tmp_path))
    assert second == first
    assert sorted(f["path"] for f in first["files"]) == ["part/" + f"f{i:02d}.csv" for i in range(40)] + ["top.txt"]
    assert first["size"] == sum(f["size"] for f in first["files"]) and first["copied"] is True
    (fingerprint,) = fingerprints(store_dir)
    assert fingerprint == FolderScan(str(folder)).result()  # what `find` says is what was kept


def test_a_file_rewritten_with_its_size_and_mtime_kept_is_hashed_again(folder, clean_env, tmp_path):
    first = folder_input(capture(folder, clean_env, tmp_path))
    target = folder / "part" / "f07.csv"
    before = target.stat()
    target.write_text(target.read_text().replace("49", "50"))  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # what `touch -d` can restore
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    second = folder_input(capture(folder, clean_env, tmp_path))
    old = {f["path"]: f["sha256"] for f in first["files"]}
    new = {f["path"]: f["sha256"] for f in second["files"]}
    assert [p for p in new if new[p] != old[p]] == ["part/f07.csv"]


def test_files_added_and_removed_show_in_the_next_capture(folder, clean_env, tmp_path):
    capture(folder, clean_env, tmp_path)
    (folder / "part" / "f00.csv").unlink()
    (folder / "part" / "new.csv").write_text("id\n1\n")
    (folder / "link.csv").symlink_to(folder / "top.txt")  # links are not followed, in either walk
    paths = {f["path"] for f in folder_input(capture(folder, clean_env, tmp_path))["files"]}
    assert "part/new.csv" in paths and "part/f00.csv" not in paths and "link.csv" not in paths


def test_blobs_gone_from_the_store_are_copied_again(folder, clean_env, tmp_path, store_dir):
    first = folder_input(capture(folder, clean_env, tmp_path))
    digest = first["files"][0]["sha256"]
    for pack in (store_dir / "packs").iterdir():  # the folder's 41 files are all packed
        pack.unlink()
    assert not LocalStore(store_dir).has_blob(digest)
    second = folder_input(capture(folder, clean_env, tmp_path))  # verified inside
    assert second == first
    assert LocalStore(store_dir).has_blob(digest)


def test_a_smaller_budget_is_honoured_for_a_remembered_folder(folder, clean_env, tmp_path):
    whole = folder_input(capture(folder, clean_env, tmp_path))
    cut = folder_input(capture(folder, clean_env, tmp_path, "--max-input-bytes", "300"))
    assert cut["copied"] is False and cut["size"] == whole["size"]
    copied = [f for f in cut["files"] if f["copied"]]
    assert copied and len(copied) < len(cut["files"])
    assert all(f["sha256"] is None for f in cut["files"] if not f["copied"])


def test_without_find_the_walk_gives_the_same_fingerprint(folder, clean_env, tmp_path, store_dir):
    no_tools = tmp_path / "bin"
    no_tools.mkdir()
    without = {**clean_env, "PATH": str(no_tools)}  # /bin/sh still runs; `find` is not found
    first = folder_input(capture(folder, without, tmp_path))
    (fingerprint,) = fingerprints(store_dir)
    assert folder_input(capture(folder, clean_env, tmp_path)) == first  # now with `find`
    assert fingerprints(store_dir) == [fingerprint]
    (folder / "top.txt").write_text("changed\n")
    changed = folder_input(capture(folder, without, tmp_path))
    assert {f["path"]: f["size"] for f in changed["files"]}["top.txt"] == len("changed\n")


def test_a_file_that_came_and_went_during_a_capture_is_not_listed_again(folder, tmp_path):
    """The scan runs before the walk: a file the walk saw but the scan did not must
    not be remembered under the scan's fingerprint, or it would come back."""
    store = LocalStore(tmp_path / "store")
    store.ensure()

    class Finished:
        """A scan that ended before the file appeared (its answer delivered later),
        whose records did not parse: the capture walks the folder."""

        def __init__(self, fingerprint: str | None) -> None:
            self.fingerprint = fingerprint

        def result(self) -> str | None:
            return self.fingerprint

        def files(self) -> None:
            return None

        def close(self) -> None:
            pass

    before = Finished(FolderScan(str(folder)).result())
    (folder / "N.tmp").write_text("a worker's temporary file")
    during = record(folder, Copier(store, {str(folder): before}))  # type: ignore[dict-item]
    assert "N.tmp" in {f["path"] for f in json.loads(during["files"].text)}
    (folder / "N.tmp").unlink()
    after = record(folder, Copier(store, {str(folder): FolderScan(str(folder))}))
    assert "N.tmp" not in {f["path"] for f in json.loads(after["files"].text)}


def test_a_first_capture_lists_the_files_find_saw(folder, store):
    """Without a remembered listing, the scan's own records are the file list (no
    second walk), and they are remembered under the scan's fingerprint."""
    scan = FolderScan(str(folder))
    fingerprint = scan.result()
    (folder / "late.tmp").write_text("written after the scan")
    copier = Copier(store, {str(folder): scan})
    listed = record(folder, copier)
    assert "late.tmp" not in {f["path"] for f in json.loads(listed["files"].text)}
    copier.flush()
    recalled = copier.recalled(str(folder))
    assert recalled is not None and recalled[0] == fingerprint
    again = record(folder, Copier(store, {str(folder): FolderScan(str(folder))}))
    assert "late.tmp" in {f["path"] for f in json.loads(again["files"].text)}


def test_find_s_records_give_the_walk_s_stats(folder):
    (folder / "part" / "with space\nand newline.csv").write_text("x")
    scan = FolderScan(str(folder))
    assert scan.files() is None  # no result yet
    scan.result()
    listed = scan.files()
    walked = sorted(walk_files(str(folder), 1000))
    assert [p for p, _ in listed] == [p for p, _ in walked]
    assert str(folder / "part" / "with space\nand newline.csv") in dict(listed)
    facts = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
    for (_, found), (_, stat) in zip(listed, walked):
        assert [getattr(found, f) for f in facts] == [getattr(stat, f) for f in facts]


@pytest.mark.parametrize("record", [
    b"1 2 3 4.0000000000 5.0000000000 ",  # no path
    b"1 2 3 4 5 x",  # times without their fraction
    b"1 2 x 4.0000000000 5.0000000000 a",  # a size that is no number
])
def test_a_malformed_record_is_refused(record):
    with pytest.raises(ValueError):
        files_of("/data", [record])


def test_a_damaged_listing_is_copied_afresh(folder, clean_env, tmp_path, store_dir):
    first = folder_input(capture(folder, clean_env, tmp_path))
    with sqlite3.connect(store_dir / "index.sqlite") as db:
        db.execute("UPDATE listings SET files = substr(files, 1, 40)")
    assert folder_input(capture(folder, clean_env, tmp_path)) == first  # verified inside
    with sqlite3.connect(store_dir / "index.sqlite") as db:
        db.execute("UPDATE listings SET size = NULL, blobs = 'not json'")
    assert folder_input(capture(folder, clean_env, tmp_path)) == first
    with sqlite3.connect(store_dir / "index.sqlite") as db:
        db.execute("""UPDATE listings SET blobs = '{"../../etc/passwd": 1}'""")
    assert folder_input(capture(folder, clean_env, tmp_path)) == first
    with sqlite3.connect(store_dir / "index.sqlite") as db:
        db.execute("UPDATE listings SET blobs = ?", ("[" * 100_000,))  # too deep to parse
    assert folder_input(capture(folder, clean_env, tmp_path)) == first
    for held_in in ("not json", '[["../../elsewhere.pack"], []]', '[[], ["not a hash"]]', "[1, 2]"):
        with sqlite3.connect(store_dir / "index.sqlite") as db:
            db.execute("UPDATE listings SET held_in = ?", (held_in,))
        assert folder_input(capture(folder, clean_env, tmp_path)) == first


def first_record(folder: Path, tmp_path: Path) -> tuple[LocalStore, dict]:
    """A new store, and the record of `folder` from a first capture into it."""
    store = LocalStore(tmp_path / "store")
    store.ensure()
    return store, record(folder, Copier(store))


def test_a_second_capture_reads_no_pack_table_and_sees_a_pack_gone(folder, tmp_path, monkeypatch):
    """Its blobs are known to be held by the packs they were in, while those are there."""
    from replay import packs

    store, first = first_record(folder, tmp_path)
    read: list[str] = []
    real = packs.read_entries
    monkeypatch.setattr(packs, "read_entries", lambda path: read.append(path) or real(path))
    assert Copier(LocalStore(store.root)).recalled(str(folder)) is not None and read == []
    for pack in (store.root / "packs").iterdir():
        pack.unlink()
    assert Copier(LocalStore(store.root)).recalled(str(folder)) is None
    assert record(folder, Copier(LocalStore(store.root)))["files"].text == first["files"].text  # afresh
    assert all(store.check_blob(d) is None for d in first["files"].blobs)


def test_a_blob_file_gone_from_a_small_folder_is_copied_again(tmp_path):
    """A folder of few files is kept as blob files, each looked for at a second capture."""
    data = tmp_path / "few"
    data.mkdir()
    for i in range(3):
        (data / f"f{i}.csv").write_text(f"id\n{i}\n")
    store, first = first_record(data, tmp_path)
    digest = json.loads(first["files"].text)[0]["sha256"]
    store.blob_path(digest).unlink()
    assert Copier(LocalStore(store.root)).recalled(str(data)) is None
    assert record(data, Copier(LocalStore(store.root)))["files"].text == first["files"].text
    assert store.blob_path(digest).is_file()


def test_the_second_capture_looks_up_and_copies_nothing_per_file(folder, tmp_path, monkeypatch):
    """In-process, to count the per-file work a reused folder skips."""
    store, first = first_record(folder, tmp_path)
    calls: list[int] = []
    real_many = Copier.many
    monkeypatch.setattr(Copier, "many", lambda self, items: calls.append(len(items)) or real_many(self, items))
    again = record(folder, Copier(store))
    assert calls == []
    assert json.loads(again["files"].text) == json.loads(first["files"].text)
    assert again["size"] == first["size"]


def test_a_capture_past_its_deadline_leaves_no_scan_running(folder, clean_env, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # a `find` that never ends
    (bin_dir / "find").write_text(f"#!/bin/sh\ntouch {tmp_path / 'find-ran'}\nexec sleep 31.25\n")
    (bin_dir / "find").chmod(0o755)
    env = {**clean_env, "PATH": f"{bin_dir}:{clean_env['PATH']}"}
    step = tmp_path / "step.py"
    step.write_text("import sys\nsys.exit(4)\n")
    started = time.monotonic()
    result = run_replay(["capture", "--timeout", "1", "--", "python", str(step), str(folder)], env, cwd=tmp_path)
    assert result.returncode == 4
    assert time.monotonic() - started < 20
    assert (tmp_path / "find-ran").exists()  # the scan did start
    left = subprocess.run(["pgrep", "-f", "sleep 31.25"], capture_output=True, text=True)
    assert left.stdout == ""


def test_a_capture_that_adds_nothing_to_its_childs_still_stops_its_scans(folder, clean_env, tmp_path):
    """An orchestrator whose child step failed and was captured exits non-zero with no
    exception of its own: the agent writes nothing, and still ends the `find` it started."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "find").write_text(f"#!/bin/sh\ntouch {tmp_path / 'find-ran'}\nexec sleep 32.5\n")
    (bin_dir / "find").chmod(0o755)
    env = {**clean_env, "PATH": f"{bin_dir}:{clean_env['PATH']}"}
    child = tmp_path / "child.py"
    child.write_text("raise ValueError('bad row')\n")
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import subprocess, sys\n"
        f"sys.exit(subprocess.run([sys.executable, {str(child)!r}]).returncode)\n"
    )
    result = run_replay(["capture", "--", "python", str(parent), str(folder)], env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("replay: captured ") == 1, result.stderr  # the child's
    assert (tmp_path / "find-ran").exists()  # the scan did start
    left = subprocess.run(["pgrep", "-f", "sleep 32.5"], capture_output=True, text=True)
    assert left.stdout == ""


def test_find_and_the_walk_agree_on_every_file(folder):
    (folder / "part" / "odd name\nwith newline").write_text("x")
    (folder / "part" / os.fsdecode(b"bytes-\xff")).write_text("y")
    os.mkfifo(folder / "part" / "fifo")
    assert folder_fingerprint(str(folder), walk_files(str(folder), 1000)) == FolderScan(str(folder)).result()


def test_a_step_that_forbids_spawning_keeps_its_outcome(folder, clean_env, tmp_path):
    step = tmp_path / "sandboxed.py"
    step.write_text(
        "import sys\n"
        "def veto(event, args):\n"
        "    if event == 'os.posix_spawn':\n"
        "        raise RuntimeError('no processes here')\n"
        "sys.addaudithook(veto)\n"
        "sys.exit(3)\n"
    )
    result = run_replay(["capture", "--", "python", str(step), str(folder)], clean_env, cwd=tmp_path)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr and "no processes here" not in result.stderr
    assert "replay: captured " in result.stderr  # walked in Python instead


def test_an_older_index_loses_its_old_caches_once(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure()
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("CREATE TABLE hashcache (path TEXT PRIMARY KEY, dev, ino, size, mtime_ns, sha256)")
        db.execute("INSERT INTO hashcache VALUES ('/data/x', 1, 2, 3, 4, 'old')")
    store.index().cached_hashes([])  # opening the index migrates it
    with sqlite3.connect(store.root / "index.sqlite") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "hashcache" not in tables and {"filehashes", "listings", "environments"} <= tables
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4


def test_a_version_2_index_loses_its_listings_and_environments_keeps_its_file_hashes(tmp_path):
    """Version 3 digests listings and environments otherwise, version 4 remembers where a
    listing's blobs are; the hashes of files stand."""
    store = LocalStore(tmp_path / "store")
    store.ensure()
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.executescript("""
            CREATE TABLE filehashes (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
                                     mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT);
            CREATE TABLE listings (path TEXT PRIMARY KEY, fingerprint TEXT, files TEXT,
                                   files_sha256 TEXT, blobs TEXT, size INTEGER, largest INTEGER);
            CREATE TABLE environments (fingerprint TEXT PRIMARY KEY, distributions TEXT, pylock TEXT,
                                       requirements TEXT);
            CREATE TABLE captures (id TEXT PRIMARY KEY, step TEXT, created TEXT, status TEXT, kind TEXT,
                                   error TEXT, exit_code INTEGER, host TEXT, source_hash TEXT);
            INSERT INTO filehashes VALUES ('/data/x', 1, 2, 3, 4, 5, 'ab');
            INSERT INTO listings VALUES ('/data', 'files:old', '[]', 'x', '{}', 0, 0);
            INSERT INTO environments VALUES ('env:old', '[]', 'a', 'b');
            PRAGMA user_version = 2;
        """)
    assert store.index().cached_listing("/data") is None
    with sqlite3.connect(store.root / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM listings").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM environments").fetchone()[0] == 0
        assert db.execute("SELECT sha256 FROM filehashes").fetchall() == [("ab",)]
        columns = [row[1] for row in db.execute("PRAGMA table_info(listings)")]
        assert "files_digest" in columns and "held_in" in columns


def test_many_files_are_copied_by_threads_into_one_pack_each(folder, store, monkeypatch):
    from _thread import get_ident

    files = walk_files(str(folder), 1000)
    assert len(files) > PARALLEL_FROM
    copiers: set[int] = set()
    real = store.add_file

    def add_file(path, pack):
        copiers.add(get_ident())
        time.sleep(0.001)  # long enough for every thread to have started by the end
        return real(path, pack)

    monkeypatch.setattr(store, "add_file", add_file)
    copied = Copier(store).many(files)
    assert copied == [hash_file(p) for p, _ in files]
    assert all(store.check_blob(digest) is None for digest, _ in copied)
    assert len(copiers) > 1
    assert len(list((store.root / "packs").iterdir())) == len(copiers)
    assert not list(store.blobs_dir.iterdir()) and not list(store.tmp_dir.iterdir())


def test_a_file_gone_before_its_copy_fails_the_copy_and_stops_the_threads(folder, store, monkeypatch):
    files = walk_files(str(folder), 1000)
    os.unlink(files[3][0])
    calls = []
    real = store.add_file
    monkeypatch.setattr(store, "add_file", lambda path, pack: calls.append(path) or real(path, pack))
    with pytest.raises(FileNotFoundError):
        Copier(store).many(files)
    assert len(calls) < len(files)  # the others stopped at their next file
    # The packs the threads had begun are dropped, not named or left behind.
    assert not list((store.root / "packs").iterdir()) and not list(store.tmp_dir.iterdir())


def _listed_then(folder: Path, store: LocalStore, change, budget: Budget | None = None) -> dict:
    """The folder's record when `change` happens after `find` listed it, before the copy."""
    scan = FolderScan(str(folder))
    scan.result()
    change()
    copier = Copier(store, {str(folder): scan})
    item = capture_input(str(folder), "argv", copier, budget or Budget(1 << 30, 1 << 30))
    copier.flush()
    scan.close()
    assert item is not None
    return item


def _paths(item: dict) -> set[str]:
    files = item["files"]
    return {f["path"] for f in (json.loads(files.text) if hasattr(files, "text") else files)}


def test_a_file_gone_since_find_listed_it_is_walked_past(folder, store):
    item = _listed_then(folder, store, lambda: (folder / "part" / "f07.csv").unlink())
    assert "part/f07.csv" not in _paths(item) and "part/f08.csv" in _paths(item)


def test_a_file_grown_since_find_listed_it_counts_at_its_new_size(folder, store):
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts)
    grown = folder / "top.txt"
    item = _listed_then(folder, store, lambda: grown.write_bytes(b"x" * 4096), Budget(total + 1000, 1 << 20))
    assert item["copied"] is False  # the walk's sizes no longer fit the budget
    assert {f["path"]: f["size"] for f in item["files"]}["top.txt"] == 4096


def test_after_a_file_changed_since_find_only_it_is_copied_again(folder, store, monkeypatch):
    """The walk that follows reuses the copies made of the files `find` listed right."""
    grown = folder / "part" / "f05.csv"
    calls: list[str] = []
    real = store.add_file
    monkeypatch.setattr(store, "add_file", lambda path, pack=None: calls.append(path) or real(path, pack))
    item = _listed_then(folder, store, lambda: grown.write_text("id,value\n5,25\n" * 3))
    assert {f["path"]: f["size"] for f in json.loads(item["files"].text)}["part/f05.csv"] == 42
    assert len(calls) == 41 + 1 and calls.count(str(grown)) == 2
    for ref in json.loads(item["files"].text):
        assert store.read_blob(ref["sha256"]) == (folder / ref["path"]).read_bytes()


def test_a_file_that_cannot_be_read_fails_the_folder_without_a_second_copy(folder, store, monkeypatch):
    """Not a change since `find`: walking and copying again would fail the same way."""
    calls: list[str] = []
    real = store.add_file

    def add_file(path, pack=None):
        calls.append(path)
        if path.endswith("f05.csv"):
            raise PermissionError(13, "Permission denied", path)
        return real(path, pack)

    monkeypatch.setattr(store, "add_file", add_file)
    with pytest.raises(PermissionError):
        _listed_then(folder, store, lambda: None)
    assert len(calls) <= 41 and len(set(calls)) == len(calls)


def test_a_file_turned_into_a_fifo_since_find_listed_it_does_not_hang(folder, store):
    def swap() -> None:
        (folder / "top.txt").unlink()
        os.mkfifo(folder / "top.txt")

    item = _listed_then(folder, store, swap)
    assert "top.txt" not in _paths(item) and "part/f00.csv" in _paths(item)


def test_copy_threads_place_each_result_where_its_file_is(folder, store, monkeypatch):
    files = walk_files(str(folder), 1000)
    real = store.add_file
    order = {p: i for i, (p, _) in enumerate(files)}

    def slow_first(path, pack):  # the earlier the file, the later it finishes
        time.sleep(0.002 * (len(files) - order[path]) / len(files))
        return real(path, pack)

    monkeypatch.setattr(store, "add_file", slow_first)
    assert Copier(store).many(files) == [hash_file(p) for p, _ in files]


def test_without_threads_to_spare_the_calling_thread_copies_all(folder, store, monkeypatch):
    from _thread import get_ident

    from replay import threads

    def refuse(function, args):
        raise RuntimeError("can't start new thread")

    copiers: set[int] = set()
    real = store.add_file
    monkeypatch.setattr(store, "add_file", lambda path, pack: copiers.add(get_ident()) or real(path, pack))
    monkeypatch.setattr(threads, "start_new_thread", refuse)
    files = walk_files(str(folder), 1000)
    assert len(files) >= PARALLEL_FROM
    assert Copier(store).many(files) == [hash_file(p) for p, _ in files]
    assert copiers == {get_ident()}


@pytest.mark.parametrize("scanned", [True, False])
def test_a_file_name_that_is_not_utf8_is_left_out(folder, store, scanned):
    """No manifest could name it: the capture of its folder holds the other files, and
    reads back."""
    odd = os.fsdecode(b"caf\xe9.csv")
    (folder / odd).write_text("id\n1\n")
    (folder / os.fsdecode(b"d\xe9j\xe0")).mkdir()
    (folder / os.fsdecode(b"d\xe9j\xe0") / "inside.csv").write_text("id\n2\n")
    item = record(folder, Copier(store, {str(folder): FolderScan(str(folder))} if scanned else {}))
    assert "top.txt" in _paths(item)
    assert not [p for p in _paths(item) if not p.isascii()]
    assert capture_input(str(folder / odd), "argv", Copier(store), Budget(1 << 30, 1 << 30)) is None


def test_a_capture_of_a_folder_with_such_a_name_reads_back(folder, clean_env, tmp_path, store_dir):
    (folder / os.fsdecode(b"caf\xe9.csv")).write_text("id\n1\n")
    capture(folder, clean_env, tmp_path)
    store = LocalStore(store_dir)
    [captured] = store.load(store.ids()[0]).inputs
    assert "top.txt" in {f.path for f in captured.files}


def test_what_a_capture_holds_is_in_the_store_and_the_rest_is_looked_for(folder, store):
    """The blobs a Copier wrote or recalled are the ones publication need not look for
    again: each of them is in the store. Any other blob a manifest names is looked for,
    and a missing one stops the publication with nothing left behind."""
    def held_by(copier: Copier) -> tuple[dict, set[str]]:
        item = capture_input(str(folder), "argv", copier, Budget(1 << 30, 1 << 30))
        held = set(copier.held)
        copier.flush()  # and the next capture looks again
        assert copier.held == set()
        for scan in copier.scans.values():
            scan.close()
        return item, held

    listed, written = held_by(Copier(store, {str(folder): FolderScan(str(folder))}))
    recalled, found = held_by(Copier(store, {str(folder): FolderScan(str(folder))}))
    assert written == found == set(listed["files"].blobs) == set(recalled["files"].blobs)
    assert store.present(found) == found

    missing = "ab" * 32
    doc = {"schema_version": 1, "id": store.new_id(), "created": "2026-11-27T05:00:00+00:00",
           "status": "failed", "kind": "step", "outcome": {"exit_code": 1},
           "step": {"name": "s", "sources": [{"path": "s.py", "size": 1, "sha256": missing}]},
           "inputs": [{**listed, "path": str(folder), "how": "argv"}]}
    with pytest.raises(StoreError, match=f"blob {missing[:12]} missing"):
        store.publish_document(doc, held=found)
    assert store.ids() == [] and os.listdir(store.tmp_dir) == []


def test_a_file_changed_before_its_copy_is_recorded_as_copied(folder, store, monkeypatch):
    """A folder copied in part (over its budget): a file rewritten between the walk and its
    copy is recorded with the size of the blob copied, not the size walked."""
    (folder / "big.bin").write_bytes(b"b" * 8192)  # over the file budget: left out
    real = store.add_file

    def rewritten_first(path, pack):
        if path.endswith("top.txt"):
            Path(path).write_bytes(b"grown" * 100)
        return real(path, pack)

    monkeypatch.setattr(store, "add_file", rewritten_first)
    item = capture_input(str(folder), "argv", Copier(store), Budget(1 << 20, 4096))
    assert item["copied"] is False
    records = {f["path"]: f for f in item["files"]}
    assert records["big.bin"]["sha256"] is None
    top = records["top.txt"]
    assert top["size"] == 500 == store.blob_size(top["sha256"])
    assert item["size"] == sum(f["size"] for f in item["files"])


def test_a_listing_is_written_as_its_records_would_be():
    """`Copier.listing` formats its records' JSON directly: the same text `dumps` makes."""
    from replay.capture.files import _file_ref, _listing_text
    from replay.document import dumps

    root = "/data/in"
    names = ["a.csv", 'quote"d.csv', "back\\slash", "tab\tand\nnewline", "caf\u00e9/\u65e5\u672c.txt",
             "emoji \U0001f600", "ctrl\x01"]
    paths = [f"{root}/{name}" for name in names] + ["/elsewhere/x.csv"]
    hashes = [(f"{i:064x}", i * 1000) for i in range(len(paths))]
    text = _listing_text(root, paths, hashes)
    assert text == dumps([_file_ref(root, p, size, d) for p, (d, size) in zip(paths, hashes)])
    assert [r["path"] for r in json.loads(text)] == [*names, "../../elsewhere/x.csv"]


def test_find_and_the_walk_list_a_folder_in_one_order(tmp_path):
    """Which files of a folder over its budget are copied, and the order of its records,
    do not depend on whether `find` or the Python walk listed it."""
    data = tmp_path / "data"
    for name in ("a.csv", "sub/b.csv", "sub/deeper/c.csv", "t/d.csv", "z.csv", "zz/e.csv"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("x" * 10)
    records = {}
    for scanned in (True, False):
        store = LocalStore(tmp_path / f"store-{scanned}")
        store.ensure()
        copier = Copier(store, {str(data): FolderScan(str(data))} if scanned else {})
        item = capture_input(str(data), "argv", copier, Budget(30, 1 << 20))  # three of six fit
        for scan in copier.scans.values():
            scan.close()
        assert item is not None and item["copied"] is False
        records[scanned] = [(f["path"], f["sha256"] is not None) for f in item["files"]]
    assert records[True] == records[False]
    assert [p for p, copied in records[True] if copied] == ["a.csv", "sub/b.csv", "sub/deeper/c.csv"]


def test_an_extra_source_whose_name_is_not_utf8_is_left_out_and_the_rest_remembered(tmp_path, store):
    from replay.capture.files import capture_sources

    root = tmp_path / "src"
    root.mkdir()
    (root / "step.py").write_text("print('step')\n")
    odd = str(root) + os.sep + os.fsdecode(b"entr\xe9e.py")
    Path(odd).write_text("print('odd')\n")
    copier = Copier(store)
    refs, truncated = capture_sources(str(root), copier, 1 << 20, 100, extra=[odd])
    copier.flush()
    assert [r["path"] for r in refs] == ["step.py"] and truncated is False
    with sqlite3.connect(store.root / "index.sqlite") as db:
        assert [row[0] for row in db.execute("SELECT path FROM filehashes")] == [str(root / "step.py")]


def test_a_publication_that_fails_still_leaves_the_copier_ready_for_the_next(folder, store):
    """A batch job's Copier outlives a capture that could not be published: what it holds
    is let go (the next capture looks again), and the hashes it copied are remembered."""
    from replay.capture.writer import publish

    copier = Copier(store)
    item = capture_input(str(folder), "argv", copier, Budget(1 << 30, 1 << 30))
    assert copier.held
    missing = "cd" * 32
    sections = {"status": "failed", "kind": "step", "outcome": {"exit_code": 1},
                "step": {"name": "s", "sources": [{"path": "s.py", "size": 1, "sha256": missing}]},
                "inputs": [item]}
    with pytest.raises(StoreError, match="missing"):
        publish(store, copier, sections)
    assert copier.held == set() and not copier.remembered
    assert fingerprints(store.root)  # the folder's listing was remembered all the same
    with sqlite3.connect(store.root / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM filehashes").fetchone()[0] == 41  # and its files


def test_an_interrupted_copy_stops_its_threads_before_it_lets_go_of_their_packs(folder, store, monkeypatch):
    """Ctrl-C while the calling thread waits for the others: no pack is let go of while
    a thread still writes to it, and none is left behind."""
    from _thread import get_ident

    from replay import threads

    files = walk_files(str(folder), 1000)
    caller = get_ident()
    real_add, real_join = store.add_file, threads.Worker.join
    finished: list[float] = []

    def add_file(path, pack):
        if get_ident() != caller:
            time.sleep(0.2)  # the other threads are mid-file when the caller runs out
        digest = real_add(path, pack)
        finished.append(time.monotonic())
        return digest

    interrupted: list[bool] = []

    def join(self, timeout=-1):
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return real_join(self, timeout)

    monkeypatch.setattr(store, "add_file", add_file)
    monkeypatch.setattr(threads.Worker, "join", join)
    with pytest.raises(KeyboardInterrupt):
        Copier(store).many(files)
    returned = time.monotonic()
    time.sleep(0.3)
    assert interrupted and max(finished) < returned  # every thread was done by then
    assert not list((store.root / "packs").iterdir()) and not list(store.tmp_dir.iterdir())
