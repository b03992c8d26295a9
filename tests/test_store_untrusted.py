"""Captures are read as untrusted: a bad one gets one clear line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from replay.errors import StoreError, UntrustedCaptureError
from replay.store import LocalStore
from tests.conftest import run_replay
from tests.manifests import publish_step


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("replay: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_manifest_is_a_clear_error(store, clean_env):
    m = publish_step(store)
    (store.capture_dir(m.id) / "manifest.json").write_text("{not json")
    result = run_replay(["show", m.id], clean_env)
    assert result.returncode == 2
    _no_traceback(result)
    assert m.id in result.stderr and "invalid manifest" in result.stderr


def test_manifest_with_escaping_path_is_refused(store, clean_env):
    m = publish_step(store)
    path = store.capture_dir(m.id) / "manifest.json"
    data = json.loads(path.read_text())
    data["step"]["sources"][0]["path"] = "../../etc/passwd"
    path.write_text(json.dumps(data))
    result = run_replay(["show", m.id], clean_env)
    assert result.returncode == 2
    _no_traceback(result)
    assert "unsafe relative path" in result.stderr


def test_wrong_hash_is_found_by_verify(store, clean_env):
    m = publish_step(store)
    blob = store.blob_path(m.step.sources[0].sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"print('tampered')\n")
    result = run_replay(["verify", m.id], clean_env)
    assert result.returncode == 2
    assert "does not match its hash" in result.stdout
    fresh = LocalStore(store.root.parent / "fresh")
    ok = run_replay(["verify", publish_step(fresh).id, "--store", str(fresh.root)], clean_env)
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": ok")


def test_unknown_and_ambiguous_ids(store, clean_env):
    publish_step(store)
    missing = run_replay(["show", "ffffffffffff"], clean_env)
    assert missing.returncode == 2 and "no capture" in missing.stderr
    bad = run_replay(["show", "../etc"], clean_env)
    assert bad.returncode == 2 and "is not a capture id" in bad.stderr


def test_newer_schema_is_refused(store, clean_env):
    m = publish_step(store)
    path = store.capture_dir(m.id) / "manifest.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    result = run_replay(["show", m.id], clean_env)
    assert result.returncode == 2 and "unsupported schema_version 99" in result.stderr


def test_index_is_rebuilt_from_manifests(store, clean_env):
    ids = {publish_step(store).id for _ in range(3)}
    store.index().close()
    (store.root / "index.sqlite").unlink()
    for extra in store.root.glob("index.sqlite-*"):
        extra.unlink()
    listed = json.loads(run_replay(["ls", "--json"], clean_env).stdout)
    assert {row["id"] for row in listed} == ids


def test_export_import_round_trip(store, tmp_path, clean_env):
    m = publish_step(store)
    archive = tmp_path / "bug.tgz"
    assert run_replay(["export", m.id, "-o", str(archive)], clean_env).returncode == 0
    other = tmp_path / "other"
    result = run_replay(["import", str(archive), "--store", str(other)], clean_env)
    assert result.returncode == 0, result.stderr
    assert LocalStore(other).verify(m.id) == []


@pytest.mark.parametrize("evil", ["../escape.txt", "/abs/path", "link", "blobs/" + "0" * 64])
def test_hostile_archive_is_refused_and_writes_nothing_outside(store, tmp_path, clean_env, evil):
    m = publish_step(store)
    good = tmp_path / "good.tgz"
    run_replay(["export", m.id, "-o", str(good)], clean_env)
    hostile = tmp_path / "hostile.tgz"
    with tarfile.open(good) as src, tarfile.open(hostile, "w:gz") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo(evil)
        if evil == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            dst.addfile(info)
        else:
            payload = b"evil"
            info.size = len(payload)
            import io

            dst.addfile(info, io.BytesIO(payload))
    other = tmp_path / "other"
    result = run_replay(["import", str(hostile), "--store", str(other)], clean_env)
    assert result.returncode == 2
    _no_traceback(result)
    assert not (tmp_path / "escape.txt").exists() and not Path("/abs/path").exists()
    assert LocalStore(other).ids() == []


def test_default_store_follows_the_job(tmp_path):
    """Inside a cloud ML job captures go to the outputs folder the platform uploads."""
    from replay.store import default_store_root

    assert default_store_root({"AZUREML_RUN_ID": "run-1"}, str(tmp_path)) == str(tmp_path / "outputs" / ".replay")
    assert default_store_root({}, str(tmp_path)) == str(tmp_path / ".replay")


@pytest.mark.parametrize("count", [3, 600])  # a stat per blob, and one listing per shard
def test_present_names_only_the_blobs_the_store_holds(store, count):
    held = {store.add_bytes(f"blob {i}".encode()) for i in range(count)}
    absent = "0" * 64
    assert store.present(held | {absent}) == held
    with pytest.raises(UntrustedCaptureError):
        store.present(held | {"../" + "a" * 61})


def test_publishing_a_capture_whose_blob_is_missing_is_refused(store):
    doc = {"id": store.new_id(), "status": "failed",
           "step": {"sources": [{"path": "s.py", "size": 1, "sha256": "e" * 64}]}}
    with pytest.raises(StoreError, match="blob eeeeeeeeeeee missing"):
        store.publish_document(doc)
    assert store.ids() == []


def test_content_added_twice_is_one_blob_left_as_it_was(store):
    first = store.add_bytes(b"same content\n")
    blob = store.blob_path(first)
    before = blob.stat()
    assert store.add_bytes(b"same content\n") == first
    after = blob.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.name for p in blob.parent.iterdir()] == [first]
    assert os.listdir(store.tmp_dir) == []  # the second copy was never named


def test_content_held_already_is_added_even_where_no_more_can_be_written(store):
    """The bytes of a repeated blob are written only to be dropped: a full disk (here a
    file size limit) leaves the blob in place standing."""
    code = f"""
import resource, sys
from replay.store import LocalStore
store = LocalStore({store.folder!r})
digest = store.add_bytes(b"x" * 100_000)
resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
assert store.add_bytes(b"x" * 100_000) == digest
try:
    store.add_bytes(b"y" * 100_000)
except OSError as exc:
    print("refused", exc.errno)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["refused", "27"]  # EFBIG, for content not held


def test_without_unnamed_files_a_blob_is_written_once_and_no_temporary_is_left(store, monkeypatch):
    monkeypatch.delattr(os, "O_TMPFILE")
    first = store.add_bytes(b"named path\n")
    assert store.add_bytes(b"named path\n") == first
    assert store.read_blob(first) == b"named path\n"
    assert os.listdir(store.tmp_dir) == []
