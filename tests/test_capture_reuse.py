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

from replay.capture.files import Budget, Copier, capture_input
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


def fingerprints(store_dir: Path) -> list[str]:
    with sqlite3.connect(store_dir / "index.sqlite") as db:
        return [row[0] for row in db.execute("SELECT fingerprint FROM listingcache")]


def test_an_unchanged_folder_gets_the_same_records_again(folder, clean_env, tmp_path, store_dir):
    first = folder_input(capture(folder, clean_env, tmp_path))
    second = folder_input(capture(folder, clean_env, tmp_path))
    assert second == first
    assert sorted(f["path"] for f in first["files"]) == ["part/" + f"f{i:02d}.csv" for i in range(40)] + ["top.txt"]
    assert first["size"] == sum(f["size"] for f in first["files"]) and first["copied"] is True
    (fingerprint,) = fingerprints(store_dir)
    assert fingerprint.startswith("find:")


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


def test_a_blob_gone_from_the_store_is_copied_again(folder, clean_env, tmp_path, store_dir):
    first = folder_input(capture(folder, clean_env, tmp_path))
    digest = first["files"][0]["sha256"]
    (store_dir / "blobs" / digest[:2] / digest).unlink()
    second = folder_input(capture(folder, clean_env, tmp_path))  # verified inside
    assert second == first
    assert (store_dir / "blobs" / digest[:2] / digest).is_file()


def test_a_smaller_budget_is_honoured_for_a_remembered_folder(folder, clean_env, tmp_path):
    whole = folder_input(capture(folder, clean_env, tmp_path))
    cut = folder_input(capture(folder, clean_env, tmp_path, "--max-input-bytes", "300"))
    assert cut["copied"] is False and cut["size"] == whole["size"]
    copied = [f for f in cut["files"] if f["copied"]]
    assert copied and len(copied) < len(cut["files"])
    assert all(f["sha256"] is None for f in cut["files"] if not f["copied"])


def test_without_find_the_walk_is_the_fingerprint(folder, clean_env, tmp_path, store_dir):
    no_tools = tmp_path / "bin"
    no_tools.mkdir()
    env = {**clean_env, "PATH": str(no_tools)}  # /bin/sh still runs; `find` is not found
    first = folder_input(capture(folder, env, tmp_path))
    (fingerprint,) = fingerprints(store_dir)
    assert fingerprint.startswith("stat:")
    assert folder_input(capture(folder, env, tmp_path)) == first
    (folder / "top.txt").write_text("changed\n")
    changed = folder_input(capture(folder, env, tmp_path))
    assert {f["path"]: f["size"] for f in changed["files"]}["top.txt"] == len("changed\n")


def test_the_second_capture_looks_up_and_copies_nothing_per_file(folder, tmp_path, monkeypatch):
    """In-process, to count the per-file work a reused folder skips."""
    store = LocalStore(tmp_path / "store")
    store.ensure()

    def record(copier: Copier) -> dict:
        item = capture_input(str(folder), "argv", copier, Budget(1 << 30, 1 << 30))
        copier.flush()
        assert item is not None
        return item

    first = record(Copier(store))
    calls: list[int] = []
    real_many = Copier.many
    monkeypatch.setattr(Copier, "many", lambda self, items: calls.append(len(items)) or real_many(self, items))
    again = record(Copier(store))
    assert calls == []
    assert json.loads(again["files"].text) == json.loads(first["files"].text)
    assert again["size"] == first["size"]


def test_a_capture_past_its_deadline_leaves_no_scan_running(folder, clean_env, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "find").write_text("#!/bin/sh\nexec sleep 31.25\n")  # a `find` that never ends
    (bin_dir / "find").chmod(0o755)
    env = {**clean_env, "PATH": f"{bin_dir}:{clean_env['PATH']}"}
    step = tmp_path / "step.py"
    step.write_text("import sys\nsys.exit(4)\n")
    started = time.monotonic()
    result = run_replay(["capture", "--timeout", "1", "--", "python", str(step), str(folder)], env, cwd=tmp_path)
    assert result.returncode == 4
    assert time.monotonic() - started < 20
    left = subprocess.run(["pgrep", "-f", "sleep 31.25"], capture_output=True, text=True)
    assert left.stdout == ""
