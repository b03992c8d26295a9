"""Failing mini-batches become captures that `replay run` replays as init() then run().

Real processes throughout: `replay parallel run` captures, its inputs, models and side
inputs are then deleted, and `replay run` / `replay parallel rerun` work from the
captures alone.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from replay.dap import attach
from replay.store import LocalStore
from tests.agreement import agree_on_variants
from tests.conftest import run_python, run_replay

FIXTURES = Path(__file__).parent / "fixtures" / "parallel"

TABULAR_SCRIPT = """
    import argparse
    import json
    import pickle

    import pandas as pd
    from azureml.core import Model, Run
    from azureml_user.parallel_run import EntryScript

    model = None
    limits = None

    def init():
        global model, limits
        parser = argparse.ArgumentParser()
        parser.add_argument("--model_name", required=True)
        parser.add_argument("--limits", required=True)
        args, _ = parser.parse_known_args()
        with open(Model.get_model_path(args.model_name), "rb") as f:
            model = pickle.load(f)
        with open(args.limits) as f:
            limits = json.load(f)
        EntryScript().logger.info("model %s loaded", args.model_name)

    def run(mini_batch):
        too_big = mini_batch[mini_batch["x1"] > limits["x1"]]
        if len(too_big):
            raise ValueError(f"x1 over the limit in rows {list(too_big['id'])}")
        Run.get_context().log("rows_scored", len(mini_batch))
        return pd.DataFrame({"id": mini_batch["id"], "prediction": model.predict(mini_batch[["x1", "x2"]])})
"""


def parallel(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_replay(["parallel", "run", "--output", str(cwd / "out"), *args], env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def verdict(env: dict[str, str], cwd: Path, capture_id: str, *args: str) -> dict[str, Any]:
    result = run_replay(["run", capture_id, "--json", *args], env, cwd=cwd)
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def captures(store_dir: Path) -> dict[int, str]:
    """Captured mini-batches by index."""
    store = LocalStore(store_dir)
    return {store.load(i).extra["minibatch"]["index"]: i for i in store.ids()}


@pytest.fixture
def file_job(tmp_path: Path, clean_env: dict[str, str], store_dir: Path) -> dict[str, Any]:
    """The file-dataset sample made strict (an unknown word is a KeyError); the second
    mini-batch holds one. The input is deleted after the run."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "labels.txt", src)
    fixed = (FIXTURES / "file_score.py").read_text()
    (src / "file_score.py").write_text(fixed.replace("LABELS.get(word, 'unknown')", "LABELS[word]"))
    data = tmp_path / "images"
    data.mkdir()
    for name, word in [("a.txt", "cat"), ("b.txt", "oak"), ("c.txt", "dog"), ("d.txt", "cat")]:
        (data / name).write_text(word)
    result = parallel(clean_env, tmp_path, "--entry-script", "file_score.py", "--source-directory", str(src),
                      "--input", str(data), "--mini-batch-size", "2", "--run-max-try", "2")
    (capture_id,) = captures(store_dir).values()
    assert f"replay: captured {capture_id} in {store_dir}: mini-batch 1 (KeyError" in result.stderr
    shutil.rmtree(data)
    return {"id": capture_id}


def test_a_failing_file_mini_batch_replays_to_reproduced_then_passed(
    file_job: dict[str, Any], clean_env: dict[str, str], tmp_path: Path, store_dir: Path
) -> None:
    manifest = LocalStore(store_dir).load(file_job["id"])
    section = manifest.extra["minibatch"]
    assert manifest.kind == "minibatch" and section["kind"] == "files"
    assert [Path(p).name for p in section["files"]] == ["c.txt", "d.txt"]
    assert [t["type"] for t in section["tries"]] == ["KeyError", "KeyError"]
    assert manifest.failure is not None and manifest.failure.site_frame().function == "run"
    assert manifest.environment.distributions  # the agent's environment section

    replayed = verdict(clean_env, tmp_path, file_job["id"])
    assert replayed["verdict"] == "reproduced"
    assert replayed["replayed"] == {**replayed["captured"], "line": replayed["replayed"]["line"]}
    # the fixed script is the sample itself, which labels unknown words
    assert verdict(clean_env, tmp_path, file_job["id"], "--source", str(FIXTURES))["verdict"] == "passed"


def test_a_mini_batch_capture_is_ruled_on_without_pydantic_as_pydantic_rules(
    file_job: dict[str, Any], store_dir: Path
) -> None:
    agree_on_variants(LocalStore(store_dir).manifest_bytes(file_job["id"]), seed=33)


@pytest.fixture
def tabular_job(tmp_path: Path, write_script: Any, clean_env: dict[str, str], store_dir: Path) -> dict[str, Any]:
    """A tabular job with a pickled model and a side input; one row is over the limit.
    Data, model and side input are deleted after the run."""
    from sklearn.tree import DecisionTreeClassifier

    script = write_script("score.py", TABULAR_SCRIPT)
    train = pd.DataFrame({"x1": [0, 1, 0, 1], "x2": [0, 0, 1, 1], "y": [0, 1, 1, 1]})
    model = tmp_path / "clf.pkl"
    model.write_bytes(pickle.dumps(DecisionTreeClassifier(random_state=0).fit(train[["x1", "x2"]], train["y"])))
    limits = tmp_path / "side" / "limits.json"
    limits.parent.mkdir()
    limits.write_text('{"x1": 1}')
    data = tmp_path / "tables"
    data.mkdir()
    rows = pd.DataFrame({"id": range(60), "x1": [7 if i == 45 else i % 2 for i in range(60)],
                         "x2": [i % 2 for i in range(60)]})
    rows.to_csv(data / "rows.csv", index=False)
    parallel(clean_env, tmp_path, "--entry-script", "score.py", "--source-directory", str(script.parent),
             "--input", str(data), "--mini-batch-size", "300", "--side-input", str(limits.parent),
             "--model", f"clf:1={model}", "--", "--model_name", "clf", "--limits", str(limits))
    (index, capture_id), = captures(store_dir).items()
    for gone in (data, limits.parent, model):
        shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    return {"id": capture_id, "index": index, "script": script, "rows": rows}


def test_a_failing_tabular_mini_batch_replays_with_its_model_and_side_input(
    tabular_job: dict[str, Any], clean_env: dict[str, str], tmp_path: Path, store_dir: Path
) -> None:
    store = LocalStore(store_dir)
    manifest = store.load(tabular_job["id"])
    section = manifest.extra["minibatch"]
    assert section["kind"] == "tabular" and section["files"] is None
    frame = pd.read_parquet(store.blob_path(section["parquet"]))
    assert 45 in frame["id"].tolist() and len(frame) == section["items"]
    assert [c.name for c in manifest.upstream] == ["azureml:Model.get_model_path"] * 3
    assert {i.how for i in manifest.inputs} == {"side"}

    replayed = verdict(clean_env, tmp_path, tabular_job["id"])
    assert replayed["verdict"] == "reproduced", replayed
    assert replayed["same_message"] is True  # the same rows, so the same message

    fixed = tmp_path / "fixed"
    fixed.mkdir()
    (fixed / "score.py").write_text(tabular_job["script"].read_text().replace(
        'mini_batch[mini_batch["x1"] > limits["x1"]]', 'mini_batch[mini_batch["x1"] > 10 * limits["x1"]]'))
    assert verdict(clean_env, tmp_path, tabular_job["id"], "--source", str(fixed))["verdict"] == "passed"


def test_attach_stops_inside_run_with_the_mini_batch(
    tabular_job: dict[str, Any], clean_env: dict[str, str], tmp_path: Path, store_dir: Path
) -> None:
    site = LocalStore(store_dir).load(tabular_job["id"]).failure.site_frame()
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "replay", "run", tabular_job["id"], "--attach", "--port", "0", "--json",
         "--ready-file", str(ready)],
        env=clean_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        where = json.loads(ready.read_text())
        with attach(where["host"], where["port"], exception_filters=()) as session:
            stop = session.wait_for_stop(timeout=30)
            assert stop.event.reason == "exception"
            assert stop.top.name == "run" and stop.top.line == site.line
            assert Path(stop.top.path).name == "score.py"
            local = session.locals_of(stop.top.id)
            assert "DataFrame" in local["mini_batch"].type
            assert " 45 " in f" {local['too_big'].value} "  # the failing row's id
            session.client.continue_(stop.thread_id)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert json.loads(out)["verdict"] == "reproduced"


@pytest.fixture
def misbehaving_job(tmp_path: Path, clean_env: dict[str, str], store_dir: Path) -> dict[int, str]:
    """One mini-batch per way to fail a try: a short result, a hang, an exception, a death."""
    data = tmp_path / "words"
    data.mkdir()
    for i, word in enumerate(["ok", "short", "hang", "raise", "die"]):
        (data / f"{i:03d}-{word}.txt").write_text(word)
    parallel(clean_env, tmp_path, "--entry-script", "misbehave.py", "--source-directory", str(FIXTURES),
             "--input", str(data), "--mini-batch-size", "1", "--run-max-try", "1",
             "--run-invocation-timeout", "2", "--name", "misbehave", "--", "--state", str(tmp_path / "state"))
    shutil.rmtree(data)
    return captures(store_dir)


def test_rerun_failed_tabulates_every_kind_of_failure_then_the_fix(
    misbehaving_job: dict[int, str], clean_env: dict[str, str], tmp_path: Path
) -> None:
    assert sorted(misbehaving_job) == [1, 2, 3, 4]
    before = run_replay(["parallel", "rerun", "--failed", "--json"], clean_env, cwd=tmp_path)
    assert before.returncode == 1, before.stderr
    table = json.loads(before.stdout)
    assert table["job_name"] == "misbehave" and (table["total"], table["passed"]) == (4, 0)
    rows = {r["minibatch_index"]: r for r in table["minibatches"]}
    assert {i: r["verdict"] for i, r in rows.items()} == dict.fromkeys([1, 2, 3, 4], "reproduced")
    assert rows[1]["captured"].startswith("ShortResult: run() returned 0 element(s) for 1 input(s)")
    assert rows[2]["replayed"].startswith("RunInvocationTimeout: run() did not return within")
    assert rows[4]["captured"].startswith("WorkerDied")
    assert "ValueError: cannot score 003-raise.txt" in Path(rows[3]["log"]).read_text()

    fixed = tmp_path / "fixed"
    fixed.mkdir()
    source = (FIXTURES / "misbehave.py").read_text()
    for bad in ('word == "raise"', 'word == "hang"', 'word == "die"', 'word == "short"'):
        source = source.replace(bad, "False")
    (fixed / "misbehave.py").write_text(source)
    after = run_replay(["parallel", "rerun", "--failed", "--job", "misbehave", "--source", str(fixed)],
                       clean_env, cwd=tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.count(" passed ") == 4 and "4 of 4 pass now" in after.stdout


def test_mini_batch_k_picks_that_mini_batch_of_the_same_job(
    misbehaving_job: dict[int, str], clean_env: dict[str, str], tmp_path: Path
) -> None:
    picked = verdict(clean_env, tmp_path, misbehaving_job[1], "--mini-batch", "3")
    assert picked["capture_id"] == misbehaving_job[3] and picked["replayed"]["type"] == "ValueError"
    missing = run_replay(["run", misbehaving_job[1], "--mini-batch", "0"], clean_env, cwd=tmp_path)
    assert missing.returncode == 2 and "mini-batch 0 of job" in missing.stderr


def test_a_partitioned_mini_batch_replays_with_its_context(
    tmp_path: Path, write_script: Any, clean_env: dict[str, str], store_dir: Path
) -> None:
    script = write_script("by_genre.py", """
        import os

        def init():
            pass

        def run(mini_batch, mini_batch_context):
            genre = mini_batch_context.partition_key_value["genre"]
            if genre == "rock":
                names = [os.path.basename(p) for p in mini_batch_context.dataset.to_path()]
                raise ValueError(f"no model for {genre}: #{mini_batch_context.minibatch_index} {names}")
            return [os.path.basename(p) for p in mini_batch]
    """)
    for genre in ("jazz", "rock"):
        (tmp_path / "music" / "ann" / genre).mkdir(parents=True)
        for name in ("x", "y"):
            (tmp_path / "music" / "ann" / genre / f"{name}.txt").write_text(name)
    parallel(clean_env, tmp_path, "--entry-script", str(script), "--input", str(tmp_path / "music"),
             "--partition-keys", "genre", "--partition-format", "{user}/{genre}/{name}.txt", "--run-max-try", "1")
    (capture_id,) = captures(store_dir).values()
    shutil.rmtree(tmp_path / "music")
    replayed = verdict(clean_env, tmp_path, capture_id)
    assert replayed["verdict"] == "reproduced" and replayed["same_message"] is True
    assert replayed["replayed"]["message"] == "no model for rock: #1 ['x.txt', 'y.txt']"


PLATFORM_DRIVER = """
    import importlib.util, sys
    from replay import stubs

    stubs.install("local", log_dir="logs", local=stubs.LocalSource(models={"labels": "labels.txt"}))
    spec = importlib.util.spec_from_file_location("wrapped", sys.argv[1])
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    entry.init()
    print("ok:", entry.run(["data/a.txt"]))
    print("short:", entry.run(["data/a.txt", "data/skip.txt"]))
    try:
        entry.run(["data/a.txt", "data/b.txt"])
    except KeyError as exc:
        print("platform saw", type(exc).__name__, exc)
"""

WRAPPED_SCRIPT = """
    import os
    from azureml.core import Model
    from replay.parallel import capture_failures

    LABELS = {}

    def init():
        global LABELS
        with open(Model.get_model_path("labels")) as f:
            LABELS = dict(line.strip().split("=", 1) for line in f)

    @capture_failures
    def run(mini_batch):
        out = []
        for path in mini_batch:
            word = open(path).read().strip()
            if word != "skip":
                out.append(f"{os.path.basename(path)}: {LABELS[word]}")
        return out
"""


def test_the_wrapper_captures_a_failing_run_and_re_raises(
    tmp_path: Path, write_script: Any, clean_env: dict[str, str], store_dir: Path
) -> None:
    script = write_script("wrapped.py", WRAPPED_SCRIPT)
    driver = write_script("driver.py", PLATFORM_DRIVER, folder=tmp_path)
    (tmp_path / "labels.txt").write_text("cat=animal\n")
    (tmp_path / "data").mkdir()
    for name, word in [("a", "cat"), ("b", "oak"), ("skip", "skip")]:
        (tmp_path / "data" / f"{name}.txt").write_text(word)
    env = {**clean_env, "PYTHONPATH": str(Path(__file__).parent.parent)}
    result = run_python([str(driver), str(script)], env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ok: ['a.txt: animal']", "short: ['a.txt: animal']",
                                          "platform saw KeyError 'oak'"]
    assert result.stderr.count("replay: captured ") == 2
    store = LocalStore(store_dir)
    by_type = {store.load(i).failure.type: store.load(i) for i in store.ids()}
    assert set(by_type) == {"ShortResult", "KeyError"}
    failing = by_type["KeyError"]
    assert failing.extra["minibatch"]["origin"] == "platform"
    assert [u.name for u in failing.upstream] == ["azureml:Model.get_model_path"]
    shutil.rmtree(tmp_path / "data")
    (tmp_path / "labels.txt").unlink()
    assert verdict(clean_env, tmp_path, failing.id)["verdict"] == "reproduced"
    assert verdict(clean_env, tmp_path, by_type["ShortResult"].id)["verdict"] == "reproduced"


def test_the_wrapper_leaves_capturing_to_the_local_runner(
    tmp_path: Path, write_script: Any, clean_env: dict[str, str], store_dir: Path
) -> None:
    script = write_script("wrapped.py", WRAPPED_SCRIPT)
    (tmp_path / "labels.txt").write_text("cat=animal\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "b.txt").write_text("oak")
    result = parallel(clean_env, tmp_path, "--entry-script", str(script), "--input", str(tmp_path / "data"),
                      "--run-max-try", "2", "--model", f"labels={tmp_path / 'labels.txt'}")
    assert result.stderr.count("replay: captured ") == 1  # the runner's, after the last try
    (capture_id,) = LocalStore(store_dir).ids()
    assert LocalStore(store_dir).load(capture_id).extra["minibatch"]["origin"] == "local"


LEAKY_SCRIPT = """
    import argparse, os

    def init():
        pass

    def run(mini_batch):
        parser = argparse.ArgumentParser()
        parser.add_argument("--password")
        args, _ = parser.parse_known_args()
        raise PermissionError(f"login as {args.password} with {os.environ['SERVICE_TOKEN']} refused")
"""


def test_no_secret_of_the_job_reaches_a_mini_batch_capture(
    tmp_path: Path, write_script: Any, clean_env: dict[str, str], store_dir: Path
) -> None:
    script = write_script("leaky.py", LEAKY_SCRIPT)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a")
    env = {**clean_env, "SERVICE_TOKEN": "tok-9f8e7d6c5b4a"}
    parallel(env, tmp_path, "--entry-script", str(script), "--input", str(tmp_path / "in"),
             "--run-max-try", "1", "--", "--password", "hunter2-correct-horse")
    (capture_id,) = LocalStore(store_dir).ids()
    text = (store_dir / "captures" / capture_id / "manifest.json").read_text()
    assert "PermissionError" in text
    assert "tok-9f8e7d6c5b4a" not in text and "hunter2-correct-horse" not in text
