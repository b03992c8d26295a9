"""The Dask executor on a real `distributed.LocalCluster`: same semantics, same outputs."""

from __future__ import annotations

import json
import os
import time
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
    # 2 workers + the restarted one; the job may end while the fresh process is still in init()
    deadline = time.monotonic() + 10
    while len(list((tmp_path / "state" / "init").iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list((tmp_path / "state" / "init").iterdir())) == 3


def test_dask_failures_become_the_same_captures_as_local(tmp_path: Path, cluster: str) -> None:
    from replay.parallel.capture import MiniBatchCapturer
    from replay.store import LocalStore
    from tests.conftest import run_replay

    data = words(tmp_path / "in", ["ok", "raise", "short"])
    stores = {name: LocalStore(tmp_path / f"store-{name}") for name in ("local", "dask")}
    for name, store in stores.items():
        run_parallel(ParallelRunConfig(
            entry_script=str(FIXTURES / "misbehave.py"), inputs=[str(data)], error_threshold=-1,
            output_action="append_row", mini_batch_size=1, run_max_try=2, process_count_per_node=2,
            output=str(tmp_path / f"out-{name}"), arguments=["--state", str(tmp_path / "state")],
            **({"executor": "dask", "address": cluster} if name == "dask" else {}),
        ), on_failed_minibatch=MiniBatchCapturer(store))

    def captured(store: LocalStore) -> dict[int, Any]:
        return {m.extra["minibatch"]["index"]: m for m in map(store.load, store.ids())}

    local, remote = captured(stores["local"]), captured(stores["dask"])
    assert sorted(local) == sorted(remote) == [1, 2]
    for index in (1, 2):
        a, b = local[index], remote[index]
        assert (a.failure.type, a.failure.message) == (b.failure.type, b.failure.message)
        assert [(f.file, f.function, f.line) for f in a.failure.frames] == [
            (f.file, f.function, f.line) for f in b.failure.frames]
        for key in ("files", "kind", "items", "failed_items", "arguments", "entry_script"):
            assert a.extra["minibatch"][key] == b.extra["minibatch"][key], key
        assert [t["type"] for t in a.extra["minibatch"]["tries"]] == [t["type"] for t in b.extra["minibatch"]["tries"]]
    assert remote[1].extra["minibatch"]["origin"] == "dask"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLAY_")}
    env["REPLAY_STORE"] = str(stores["dask"].root)
    for capture in remote.values():
        result = run_replay(["run", capture.id, "--json"], env, cwd=tmp_path)
        assert json.loads(result.stdout)["verdict"] == "reproduced", result.stderr
