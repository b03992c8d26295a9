"""`replay parallel run` as a user types it: options, `-- ARGS`, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import replay.cli as cli

FIXTURES = Path(__file__).parent / "fixtures" / "parallel"


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Failing mini-batches are captured into the default store: keep it per test."""
    monkeypatch.setenv("REPLAY_STORE", str(tmp_path / "store"))
    return tmp_path / "store"


def words(folder: Path, items: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, word in enumerate(items):
        (folder / f"{i:03d}-{word}.txt").write_text(word)
    return folder


def test_a_run_prints_a_json_summary_and_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = words(tmp_path / "in", ["cat", "oak", "raise"])
    code = cli.main([
        "parallel", "run", "--entry-script", "misbehave.py", "--source-directory", str(FIXTURES),
        "--input", str(data), "--mini-batch-size", "1", "--run-max-try", "1",
        "--error-threshold", "1", "--output", str(tmp_path / "out"), "--name", "score-words",
        "--json", "--", "--state", str(tmp_path / "state"),
    ])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert code == 0
    assert summary["status"] == "completed_with_failures"
    assert summary["name"] == "score-words"
    assert summary["failed_minibatches"][0]["error"] == "ValueError: cannot score 002-raise.txt"
    assert Path(summary["failed_minibatches"][0]["record"]).is_file()
    assert (tmp_path / "out" / "parallel_run_step.txt").read_text() == "000-cat.txt: cat\n001-oak.txt: oak\n"
    assert "first failure: mini-batch 2: ValueError" in err
    capture_id = summary["failed_minibatches"][0]["capture"]
    assert f"replay: captured {capture_id} in {tmp_path / 'store'}: mini-batch 2 (ValueError" in err
    assert "replay parallel rerun --failed --job score-words" in err


def test_no_capture_leaves_the_store_alone(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = words(tmp_path / "in", ["raise"])
    code = cli.main([
        "parallel", "run", "--entry-script", str(FIXTURES / "misbehave.py"), "--input", str(data),
        "--run-max-try", "1", "--output", str(tmp_path / "out"), "--no-capture",
        "--", "--state", str(tmp_path / "state"),
    ])
    assert code == 0
    assert "replay: captured" not in capsys.readouterr().err
    assert not store.exists()


def test_an_aborted_run_exits_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = words(tmp_path / "in", ["raise", "ok"])
    code = cli.main([
        "parallel", "run", "--entry-script", str(FIXTURES / "misbehave.py"), "--input", str(data),
        "--mini-batch-size", "1", "--run-max-try", "1", "--error-threshold", "0",
        "--output", str(tmp_path / "out"), "--", "--state", str(tmp_path / "state"),
    ])
    assert code == 1
    assert "exceed error_threshold 0" in capsys.readouterr().err


def test_a_bad_option_value_is_one_line_and_exit_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = words(tmp_path / "in", ["cat"])
    code = cli.main([
        "parallel", "run", "--entry-script", str(FIXTURES / "file_score.py"), "--input", str(data),
        "--mini-batch-size", "10MB", "--output", str(tmp_path / "out"),
    ])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("replay: mini_batch_size '10MB' is not valid for a file dataset")
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_a_malformed_model_option_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = words(tmp_path / "in", ["cat"])
    code = cli.main([
        "parallel", "run", "--entry-script", str(FIXTURES / "file_score.py"), "--input", str(data),
        "--model", "clf",
    ])
    assert code == 2
    assert "NAME=PATH" in capsys.readouterr().err
