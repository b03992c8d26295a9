"""The `find` that fingerprints an input folder beside the agent (replay.capture.scan)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from replay.capture.agent import Agent, StepInfo
from replay.capture.options import CaptureOptions
from replay.capture.scan import MAX_SCANS, FolderScan, _ns, _time
from replay.document import Encoded, encode


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "__pycache__").mkdir()
    for name in ("a.txt", "sub/b.txt", "sub/with space\nand newline.txt", "__pycache__/c.pyc"):
        (data / name).write_text(name)
    return data


def fingerprint(folder: Path, **kw: int) -> str | None:
    return FolderScan(str(folder), **kw).result()


def test_the_same_folder_has_the_same_fingerprint(folder):
    first = fingerprint(folder)
    assert first is not None and first.startswith("files:")
    assert fingerprint(folder) == first


@pytest.mark.parametrize("change", [
    lambda d: (d / "sub" / "b.txt").write_text("sub/b.txX"),  # same size
    lambda d: os.chmod(d / "a.txt", 0o600),  # ctime only
    lambda d: (d / "sub" / "new.txt").write_text(""),
    lambda d: (d / "sub" / "with space\nand newline.txt").unlink(),
    lambda d: os.rename(d / "a.txt", d / "z.txt"),
])
def test_a_change_to_any_file_changes_it(folder, change):
    before = fingerprint(folder)
    time.sleep(0.01)
    change(folder)
    assert fingerprint(folder) not in (None, before)


@pytest.mark.parametrize("change", [
    lambda d: (d / "__pycache__" / "c.pyc").write_text("recompiled"),  # a skipped folder
    lambda d: (d / "link").symlink_to(d / "a.txt"),  # links are not followed
    lambda d: (d / "empty").mkdir(),
])
def test_what_the_capture_does_not_take_leaves_it_alone(folder, change):
    before = fingerprint(folder)
    change(folder)
    assert fingerprint(folder) == before


def test_find_dies_at_its_output_limit_rather_than_walking_on(folder):
    """Python ignores SIGXFSZ and children inherit that; the scan restores the default."""
    scan = FolderScan(str(folder), max_output_blocks=0)
    assert scan.pid is not None
    _, status = os.waitpid(scan.pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXFSZ
    scan.pid = None
    scan.close()


def test_at_most_four_folders_are_scanned(tmp_path):
    folders = []
    for i in range(6):
        (tmp_path / f"d{i}").mkdir()
        folders.append(str(tmp_path / f"d{i}"))
    agent = Agent(CaptureOptions(), StepInfo("script", "step.py", ["step.py", *folders], "step", str(tmp_path)))
    scans = agent.scan_inputs()
    try:
        assert list(scans) == folders[:MAX_SCANS] and MAX_SCANS == 4
        assert agent.scan_inputs() is scans  # started once
    finally:
        for scan in scans.values():
            scan.close()


def test_no_fingerprint_without_a_whole_answer(folder, tmp_path, monkeypatch):
    assert fingerprint(tmp_path / "missing") is None
    monkeypatch.chdir(tmp_path)
    assert fingerprint(folder, max_output_blocks=0) is None  # `find` stopped at its output limit
    assert not list(tmp_path.glob("core*"))  # and it left no core file behind
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert fingerprint(folder) is None


def test_a_find_that_fails_part_way_gives_no_fingerprint(folder, tmp_path, monkeypatch):
    """What `find` does on an unreadable subfolder (which root, running the tests here,
    can read): print what it could, then exit 1."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "find").write_text("#!/bin/sh\nprintf '1 2 3 4.0 5.0 a.txt\\000'\nexit 1\n")
    (bin_dir / "find").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert fingerprint(folder) is None
    (bin_dir / "find").write_text("#!/bin/sh\nprintf '1 2 3 4.0 5.0 a.txt\\000'\n")
    assert fingerprint(folder) is not None  # the same output, exiting 0, is taken


def test_an_unreadable_subfolder_means_no_fingerprint(folder):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    os.chmod(folder / "sub", 0)
    try:
        assert fingerprint(folder) is None
    finally:
        os.chmod(folder / "sub", 0o755)


def test_close_stops_a_find_still_running(folder, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    slow = bin_dir / "find"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    scan = FolderScan(str(folder))
    pid = scan.pid
    assert pid is not None
    started = time.monotonic()
    scan.close()
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):  # reaped: no zombie left in the job
        os.waitpid(pid, os.WNOHANG)
    assert scan.result() is None


def test_a_relative_folder_is_refused():
    with pytest.raises(ValueError):
        FolderScan("-delete")


def test_encoded_parts_are_spliced_into_the_manifest_text():
    files = [{"path": "a b\"c", "size": 1, "sha256": "0" * 64, "copied": True}]
    part = Encoded(json.dumps(files, separators=(",", ":")), {"0" * 64: 1})
    doc = {"inputs": [{"files": part}, {"files": part}], "note": "\0replay-encoded-0-0"}
    assert json.loads(encode(doc)) == {"inputs": [{"files": files}, {"files": files}], "note": "\0replay-encoded-0-0"}
    with pytest.raises(TypeError):
        encode({"x": object()})


@pytest.mark.parametrize("ns", [0, 1, -1, 999_999_999, -1_000_000_001, 1_700_000_000_123_456_789,
                                -1_700_000_000_123_456_789])
def test_a_time_as_find_prints_it_reads_back_exactly(ns):
    assert _ns(_time(ns)) == ns


@pytest.mark.parametrize("text", [b"1.23", b"abc", b"", b".1234567890", b"1x1234567890",
                                  b"1.123456789a0", b"1.12345678900", b"1.123456789 0"])
def test_a_time_that_find_would_not_print_is_refused(text):
    with pytest.raises(ValueError):
        _ns(text)
