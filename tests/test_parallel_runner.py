"""The local runner with real worker processes, real files and real entry scripts."""

from __future__ import annotations

import json
import pickle
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from replay.parallel.config import ParallelRunConfig
from replay.parallel.runner import JobResult, run_parallel

FIXTURES = Path(__file__).parent / "fixtures" / "parallel"


def words(folder: Path, items: list[str]) -> Path:
    """One small file per word, named so that path order is list order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, word in enumerate(items):
        (folder / f"{i:03d}-{word}.txt").write_text(word)
    return folder


def misbehave(tmp_path: Path, items: list[str], **kw: Any) -> tuple[JobResult, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    state = tmp_path / "state"
    base: dict[str, Any] = dict(
        entry_script=str(FIXTURES / "misbehave.py"),
        inputs=[str(words(tmp_path / "in", items))],
        error_threshold=-1,
        output_action="append_row",
        mini_batch_size=1,
        run_max_try=1,
        output=str(tmp_path / "out"),
        arguments=["--state", str(state)],
    )
    base.update(kw)
    result = run_parallel(ParallelRunConfig(**base), on_failed_minibatch=records.append)
    return result, records


def inits(tmp_path: Path) -> int:
    folder = tmp_path / "state" / "init"
    return len(list(folder.iterdir())) if folder.exists() else 0


def report(result: JobResult) -> list[dict[str, str]]:
    import csv

    with open(result.report) as f:
        return list(csv.DictReader(f))


def test_a_file_dataset_writes_name_label_lines_byte_for_byte(tmp_path: Path) -> None:
    data = tmp_path / "images"
    data.mkdir()
    for name, word in [("a.txt", "cat"), ("b.txt", "oak"), ("c.txt", "car"), ("d.txt", "dog"), ("e.txt", "cat")]:
        (data / name).write_text(word)
    result = run_parallel(ParallelRunConfig(
        entry_script="file_score.py", source_directory=str(FIXTURES), inputs=[str(data)],
        error_threshold=0, output_action="append_row", mini_batch_size=2,
        process_count_per_node=2, output=str(tmp_path / "out"),
    ))
    assert result.status == "succeeded"
    assert result.output_file == tmp_path / "out" / "parallel_run_step.txt"
    assert result.output_file.read_bytes() == (
        b"a.txt: animal\nb.txt: tree\nc.txt: vehicle\nd.txt: unknown\ne.txt: animal\n"
    )
    rows = report(result)
    assert [r["minibatch_index"] for r in rows] == ["0", "1", "2"]
    assert {r["result"] for r in rows} == {"succeeded"}
    assert {r["node"] for r in rows} == {"node000"}
    assert {r["process"] for r in rows} <= {"process000", "process001"}
    logs = list((tmp_path / "out" / "logs" / "user" / "entry_script_log").rglob("*.txt"))
    assert any("loaded 3 labels" in p.read_text() for p in logs)


@pytest.fixture
def scored_tables(tmp_path: Path) -> dict[str, Path]:
    """A pickled scikit-learn model and two CSV files: one small, one over the size."""
    from sklearn.tree import DecisionTreeClassifier

    train = pd.DataFrame({"x1": [0, 1, 0, 1], "x2": [0, 0, 1, 1], "y": [0, 1, 1, 1]})
    model = DecisionTreeClassifier(random_state=0).fit(train[["x1", "x2"]], train["y"])
    model_path = tmp_path / "clf.pkl"
    model_path.write_bytes(pickle.dumps(model))
    data = tmp_path / "tables"
    data.mkdir()
    pd.DataFrame({"id": [1, 2], "x1": [0, 1], "x2": [0, 0]}).to_csv(data / "a_small.csv", index=False)
    big = pd.DataFrame({"id": range(100, 400), "x1": [i % 2 for i in range(300)],
                        "x2": [(i // 2) % 2 for i in range(300)]})
    big.to_csv(data / "b_big.csv", index=False)
    return {"model": model_path, "data": data}


def tabular_config(tmp_path: Path, tables: dict[str, Path], *extra: str, processes: int = 2) -> ParallelRunConfig:
    return ParallelRunConfig(
        entry_script=str(FIXTURES / "tabular_score.py"), inputs=[str(tables["data"])],
        error_threshold=0, output_action="append_row", mini_batch_size="1KB",
        process_count_per_node=processes, models={"clf:1": str(tables["model"])},
        arguments=["--model_name", "clf", *extra], output=str(tmp_path / "out"),
    )


def test_a_tabular_step_scores_dataframes_with_a_pickled_model(
    tmp_path: Path, scored_tables: dict[str, Path]
) -> None:
    result = run_parallel(tabular_config(tmp_path, scored_tables))
    assert result.status == "succeeded", result.message
    assert result.items == 302
    assert result.minibatches > 2  # the small file alone, the big one split
    expected = ["1 0", "2 1"] + [f"{100 + i} {int((i % 2) or ((i // 2) % 2))}" for i in range(300)]
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == expected
    metrics = [json.loads(line) for p in (tmp_path / "out" / "logs" / "user" / "metrics").rglob("*.jsonl")
               for line in p.read_text().splitlines()]
    assert sum(m["value"] for m in metrics if m["name"] == "rows_scored") == 302


def test_the_dataframe_header_flag_writes_one_header_line(
    tmp_path: Path, scored_tables: dict[str, Path]
) -> None:
    result = run_parallel(
        tabular_config(tmp_path, scored_tables, "--append_row_dataframe_header", "True", processes=1)
    )
    assert result.output_file is not None
    lines = result.output_file.read_text().splitlines()
    assert lines[0] == "id prediction"
    assert lines[1:3] == ["1 0", "2 1"]
    assert lines.count("id prediction") == 1


def test_partitioned_files_pass_the_partition_key_value(tmp_path: Path) -> None:
    root = tmp_path / "music"
    for user in ("ann", "bob"):
        for genre in ("jazz", "rock"):
            words(root / user / genre, ["x", "y", "z"])
    result = run_parallel(ParallelRunConfig(
        entry_script=str(FIXTURES / "partition_score.py"), inputs=[str(root)], error_threshold=0,
        output_action="append_row", mini_batch_size=2, partition_keys=["user", "genre"],
        partition_format="{user}/{genre}/{name}.txt", output=str(tmp_path / "out"),
    ))
    assert result.output_file is not None
    lines = result.output_file.read_text().splitlines()
    assert lines[:3] == ["genre=jazz/user=ann #0 000-x.txt", "genre=jazz/user=ann #0 001-y.txt",
                         "genre=jazz/user=ann #1 002-z.txt"]
    assert len(lines) == 12 and result.minibatches == 8


def test_failures_exactly_at_the_threshold_do_not_abort(tmp_path: Path) -> None:
    result, records = misbehave(tmp_path, ["raise", "ok", "raise", "ok", "ok"], error_threshold=2)
    assert result.status == "completed_with_failures"
    assert result.failed_items == 2 and result.succeeded == 3
    assert [r["index"] for r in records] == [0, 2]
    assert result.output_file is not None
    assert result.output_file.read_text() == "001-ok.txt: ok\n003-ok.txt: ok\n004-ok.txt: ok\n"


def test_one_failure_above_the_threshold_aborts(tmp_path: Path) -> None:
    result, _ = misbehave(tmp_path, ["raise", "raise", "ok", "ok", "ok", "ok"], error_threshold=1)
    assert result.status == "aborted"
    assert result.failed_items == 2
    assert "2 failed file(s) exceed error_threshold 1" in result.message
    assert result.not_run >= 1
    assert "cannot score 000-raise.txt" in result.error_summary.read_text()


def test_error_threshold_counts_files_not_mini_batches(tmp_path: Path) -> None:
    result, _ = misbehave(tmp_path, ["raise", "ok", "ok", "ok"], error_threshold=3, mini_batch_size=4)
    assert result.failed_items == 4 and result.status == "aborted"


def test_a_hung_run_is_killed_after_the_timeout_and_its_worker_replaced(tmp_path: Path) -> None:
    result, records = misbehave(tmp_path, ["hang", "ok", "ok"], run_invocation_timeout=1, run_max_try=2)
    assert result.status == "completed_with_failures"
    assert result.succeeded == 2
    (record,) = records
    assert [t["type"] for t in record["tries"]] == ["RunInvocationTimeout"] * 2
    assert all(t["duration"] >= 1 for t in record["tries"])
    assert inits(tmp_path) == 3  # the first worker, then one replacement per timeout


def test_a_short_result_fails_the_missing_elements_only(tmp_path: Path) -> None:
    result, records = misbehave(tmp_path, ["ok", "short", "ok"], mini_batch_size=3, run_max_try=2)
    (record,) = records
    assert [t["type"] for t in record["tries"]] == ["ShortResult", "ShortResult"]
    assert "returned 2 element(s) for 3 input(s)" in record["tries"][0]["message"]
    assert result.failed_items == 1 and record["failed_items"] == 1
    assert result.output_file is not None
    assert result.output_file.read_text() == "000-ok.txt: ok\n002-ok.txt: ok\n"


def test_a_mini_batch_that_fails_once_succeeds_on_its_second_try(tmp_path: Path) -> None:
    result, records = misbehave(tmp_path, ["ok", "flaky", "ok"], run_max_try=3)
    assert result.status == "succeeded" and not records
    assert [r["tries"] for r in report(result)] == ["1", "2", "1"]
    assert result.output_file is not None
    assert "001-flaky.txt: flaky" in result.output_file.read_text()


def test_run_returning_none_is_a_failure(tmp_path: Path) -> None:
    _, records = misbehave(tmp_path, ["none"])
    assert records[0]["tries"][0]["type"] == "ResultError"


def test_a_worker_that_dies_fails_its_try_and_is_replaced(tmp_path: Path) -> None:
    result, records = misbehave(tmp_path, ["die", "ok", "ok"])
    assert records[0]["tries"][0]["type"] == "WorkerDied"
    assert result.succeeded == 2


def test_init_runs_once_per_worker_process(tmp_path: Path) -> None:
    result, _ = misbehave(tmp_path, ["slow"] * 8, process_count_per_node=2, node_count=1)
    assert result.status == "succeeded"
    pids = {r["pid"] for r in report(result)}
    assert len(pids) == 2
    markers = [p.name.split("-")[0] for p in (tmp_path / "state" / "init").iterdir()]
    assert sorted(markers) == sorted(pids)  # one init() per worker process


def test_an_init_failure_stops_the_job_with_its_traceback(tmp_path: Path) -> None:
    script = tmp_path / "bad_init.py"
    script.write_text("def init():\n    raise ImportError('no module named torch')\n\ndef run(b):\n    return b\n")
    result = run_parallel(ParallelRunConfig(
        entry_script=str(script), inputs=[str(words(tmp_path / "in", ["a"]))], error_threshold=0,
        output_action="append_row", output=str(tmp_path / "out"),
    ))
    assert result.status == "init_failed"
    assert "no module named torch" in result.error_summary.read_text()


def test_a_failed_tabular_mini_batch_is_saved_as_parquet_with_its_record(tmp_path: Path) -> None:
    script = tmp_path / "src" / "strict.py"
    script.parent.mkdir()
    script.write_text(textwrap.dedent("""
        def init():
            pass

        def run(mini_batch):
            if (mini_batch["x"] < 0).any():
                raise ValueError("negative x")
            return mini_batch
    """))
    data = tmp_path / "t.csv"
    pd.DataFrame({"x": [1, 2, -3, 4]}).to_csv(data, index=False)
    records: list[dict[str, Any]] = []
    result = run_parallel(ParallelRunConfig(  # 2 bytes: one line per mini-batch
        entry_script=str(script), inputs=[str(data)], error_threshold=-1, output_action="summary_only",
        mini_batch_size="2", run_max_try=2, output=str(tmp_path / "out"), arguments=["--k", "v"],
    ), on_failed_minibatch=records.append)
    assert result.output_file is None
    (record,) = records
    assert set(record) >= {"index", "files", "parquet", "context", "tries", "config", "args", "worker"}
    assert record["args"] == ["--k", "v"]
    assert record["files"] is None
    assert [t["type"] for t in record["tries"]] == ["ValueError", "ValueError"]
    assert "negative x" in record["tries"][-1]["traceback"]
    assert record["context"]["minibatch_index"] == record["index"]
    assert pd.read_parquet(record["parquet"])["x"].tolist() == [-3]
    assert result.failed_items == 1
    saved = json.loads(Path(record["record_path"]).read_text())
    assert saved["index"] == record["index"]


def test_tabular_partitions_pass_the_column_values(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    pd.DataFrame({"id": range(6), "genre": ["jazz", "rock"] * 3}).to_csv(data, index=False)
    result = run_parallel(ParallelRunConfig(
        entry_script=str(FIXTURES / "partition_score.py"), inputs=[str(data)], error_threshold=0,
        output_action="append_row", partition_keys=["genre"], output=str(tmp_path / "out"),
    ))
    assert result.output_file is not None
    assert result.output_file.read_text() == "genre=jazz #0 rows=3\n" * 3 + "genre=rock #1 rows=3\n" * 3


def test_a_file_dataset_worker_never_imports_pandas() -> None:
    import subprocess
    import sys

    code = "import sys, replay.parallel.worker; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
