"""The Dask executor on a real `distributed.LocalCluster`: same semantics, same outputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from replay.parallel.config import ParallelRunConfig
from replay.parallel.runner import run_parallel

distributed = pytest.importorskip("distributed")

FIXTURES = Path(__file__).parent / "fixtures" / "parallel"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
        host="127.0.0.1", silence_logs=40,
    ) as local:
        yield local.scheduler_address


def words(folder: Path, items: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, word in enumerate(items):
        (folder / f"{i:03d}-{word}.txt").write_text(word)
    return folder


def file_job(tmp_path: Path, data: Path, out: str, **kw: Any) -> ParallelRunConfig:
    return ParallelRunConfig(
        entry_script="file_score.py", source_directory=str(FIXTURES), inputs=[str(data)],
        error_threshold=0, output_action="append_row", mini_batch_size=3,
        process_count_per_node=2, output=str(tmp_path / out), **kw,
    )


def test_dask_writes_the_same_output_file_as_local(tmp_path: Path, cluster: str) -> None:
    data = words(tmp_path / "in", ["cat", "oak", "car", "dog"] * 5)
    local = run_parallel(file_job(tmp_path, data, "local"))
    remote = run_parallel(file_job(tmp_path, data, "dask", executor="dask", address=cluster))
    assert local.status == remote.status == "succeeded"
    assert remote.executor.startswith("dask")
    assert local.output_file is not None and remote.output_file is not None
    assert remote.output_file.read_bytes() == local.output_file.read_bytes()
    assert remote.output_file.read_text().count("\n") == 20


def misbehave(tmp_path: Path, cluster: str, items: list[str], **kw: Any) -> tuple[Any, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    settings: dict[str, Any] = dict(
        entry_script=str(FIXTURES / "misbehave.py"), inputs=[str(words(tmp_path / "in", items))],
        error_threshold=-1, output_action="append_row", mini_batch_size=1, run_max_try=1,
        process_count_per_node=2, output=str(tmp_path / "out"),
        arguments=["--state", str(tmp_path / "state")], executor="dask", address=cluster,
    )
    settings.update(kw)
    return run_parallel(ParallelRunConfig(**settings), on_failed_minibatch=records.append), records


def test_dask_runs_init_once_per_worker_process_and_retries(tmp_path: Path, cluster: str) -> None:
    result, records = misbehave(tmp_path, cluster, ["slow", "flaky", "raise", "slow", "slow"], run_max_try=2)
    assert result.status == "completed_with_failures"
    assert [r["index"] for r in records] == [2]
    assert [t["type"] for t in records[0]["tries"]] == ["ValueError", "ValueError"]
    assert len(list((tmp_path / "state" / "init").iterdir())) == 2


def test_dask_restarts_a_hung_worker_after_the_timeout(tmp_path: Path, cluster: str) -> None:
    result, records = misbehave(tmp_path, cluster, ["hang", "ok", "ok"], run_invocation_timeout=1)
    assert result.succeeded == 2
    assert records[0]["tries"][0]["type"] == "RunInvocationTimeout"
    assert len(list((tmp_path / "state" / "init").iterdir())) == 3  # 2 workers + the restarted one
