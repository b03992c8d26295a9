"""Doctor rules for the batch-inference entry-script contract.

Job-level findings (the abort over the threshold) live in the job's output, not in
one mini-batch, so each test captures a real batch job as a step: `replay capture --
python batch_job.py ...`, where `batch_job.py` runs `replay parallel run`'s own
command-line handler (the runner, its workers, its messages) with its per-mini-batch
captures off, and the job fails the way the platform's would. GIVEN such a failing job,
WHEN its capture is diagnosed, THEN the contract finding is there, and a near miss gets
none.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay.bundle import Manifest
from tests.doctor_support import capture, codes, findings, only

BATCH_JOB = """
    import argparse, sys
    from replay.cli import parallel

    parser = argparse.ArgumentParser(prog="replay parallel")
    parallel.add_arguments(parser)
    raise SystemExit(parallel.run(parser.parse_args(["run", *sys.argv[1:]])))
"""


@pytest.fixture
def batch_job(tmp_path, write_script, clean_env):
    """Run a batch job over three input files with the given entry-script body."""
    job = write_script("batch_job.py", BATCH_JOB)
    data = tmp_path / "data"
    data.mkdir()
    for n in range(3):
        (data / f"doc{n}.txt").write_text(f"document {n}\n")

    def run(entry: str, *options: str, always: bool = False) -> Manifest:
        script: Path = write_script("score.py", entry)
        cmd = ["python", str(job), "--entry-script", str(script), "--input", str(data),
               "--output", str(tmp_path / "out"), "--run-max-try", "1", "--no-capture", *options]
        return capture(cmd, clean_env, tmp_path, ("--always",) if always else ())

    return run


INIT = "def init():\n    pass\n\n"


def test_entry_script_without_init(batch_job):
    m = batch_job("def run(mini_batch):\n    return mini_batch\n", "--error-threshold", "0")

    finding = only(findings(m), "batch-entry-function-missing")

    assert "does not define init()" in finding.message
    assert any("does not define init(): a batch-inference entry script needs" in e for e in finding.evidence)
    assert "def init():" in finding.fix and "def run(mini_batch):" in finding.fix


def test_run_returning_none_aborts_over_the_threshold(batch_job):
    m = batch_job(INIT + "def run(mini_batch):\n    results = [p for p in mini_batch]\n",
                  "--error-threshold", "0", "--mini-batch-size", "1")

    found = findings(m)
    nothing = only(found, "batch-run-returned-nothing")
    threshold = only(found, "batch-error-threshold-exceeded")

    assert any("ResultError: run() returned None" in e for e in nothing.evidence)
    assert "return results" in nothing.fix
    assert threshold.message == "the batch job aborted: 1 failed file(s) exceed error_threshold 0"
    assert "raise error_threshold above 1" in threshold.fix
    assert not codes(found) & {"batch-run-short-result", "batch-run-result-type", "batch-entry-function-missing"}


def test_run_returning_fewer_elements_than_inputs(batch_job):
    m = batch_job(INIT + "def run(mini_batch):\n    return mini_batch[:-1]\n",
                  "--error-threshold", "0", "--mini-batch-size", "2")

    found = findings(m)
    finding = only(found, "batch-run-short-result")

    assert finding.message.startswith("run(mini_batch) returned 1 element(s) for 2 input(s)")
    assert any("ShortResult: run() returned 1 element(s) for 2 input(s)" in e for e in finding.evidence)
    assert "batch-run-returned-nothing" not in codes(found)


def test_run_returning_a_dict(batch_job):
    m = batch_job(INIT + "def run(mini_batch):\n    return {p: 1 for p in mini_batch}\n",
                  "--error-threshold", "0")

    found = findings(m)
    finding = only(found, "batch-run-result-type")

    assert finding.message == "run(mini_batch) returned dict, which is neither a list nor a pandas DataFrame"
    assert "list(results.values())" in finding.fix
    assert "batch-run-returned-nothing" not in codes(found)


def test_run_exceeding_the_invocation_timeout(batch_job):
    m = batch_job(INIT + "import time\n\ndef run(mini_batch):\n    time.sleep(30)\n    return mini_batch\n",
                  "--error-threshold", "0", "--run-invocation-timeout", "1", "--mini-batch-size", "3")

    finding = only(findings(m), "batch-run-timeout")

    assert finding.message == "a run(mini_batch) call did not finish within run_invocation_timeout (1 s)"
    assert any("run() did not return within run_invocation_timeout=1s" in e for e in finding.evidence)
    assert finding.fix.startswith("raise run_invocation_timeout (now 1 s; e.g. run_invocation_timeout=2)")
    assert "shrink mini_batch_size (now 3)" in finding.fix


def test_step_name_outside_the_naming_rule(batch_job):
    m = batch_job(INIT + "def run(mini_batch):\n    return mini_batch\n", "--name", "Score_Docs")

    finding = only(findings(m), "batch-step-name-invalid")

    assert "'Score_Docs'" in finding.message
    assert finding.fix == "rename the step: ParallelRunStep(name='score-docs', ...)"


def test_near_miss_run_raising_within_a_tolerated_threshold(batch_job):
    m = batch_job(INIT + "def run(mini_batch):\n    raise ValueError('bad document')\n",
                  "--error-threshold", "5", "--name", "score-docs", always=True)

    assert m.status == "passed"
    assert not {c for c in codes(findings(m)) if c.startswith("batch-")}


def test_near_miss_run_raising_fast_over_the_threshold(batch_job):
    m = batch_job(INIT + "def run(mini_batch):\n    raise ValueError('bad document')\n",
                  "--error-threshold", "0", "--run-invocation-timeout", "1")

    assert {c for c in codes(findings(m)) if c.startswith("batch-")} == {"batch-error-threshold-exceeded"}


def test_minibatch_shaped_capture_reports_the_measured_duration(batch_job, tmp_path):
    """The mini-batch view built by hand from a real job (the step capture plus the runner's
    own record of the failed mini-batch: tries, config), as a capture made elsewhere would
    hold it; the runner's own mini-batch captures are tested below."""
    m = batch_job(INIT + "import time\n\ndef run(mini_batch):\n    time.sleep(30)\n    return mini_batch\n",
                  "--error-threshold", "0", "--run-invocation-timeout", "1", "--mini-batch-size", "3")
    (record_path,) = (tmp_path / "out").glob("logs/sys/failed_mini-batches/*/record.json")
    record = json.loads(record_path.read_text())
    minibatch = m.model_copy(update={
        "kind": "minibatch",
        "extra": {**m.extra, "tries": record["tries"], "config": record["config"], "minibatch": record["context"]},
    })

    finding = only(findings(minibatch), "batch-run-timeout")

    (measured,) = [e for e in finding.evidence if e.startswith("measured run() time per try: ")]
    assert float(measured.split(": ")[1].split()[0]) >= 1.0
    assert "shrink mini_batch_size (now 3)" in finding.fix


def test_rules_tolerate_a_minibatch_capture_with_odd_extra(batch_job):
    m = batch_job(INIT + "def run(mini_batch):\n    return None\n", "--error-threshold", "0")
    odd = m.model_copy(update={
        "kind": "minibatch",
        "extra": {"tries": ["not a try", {"type": 3}], "config": [1, 2], "minibatch": None,
                  "writes": {"/x": 7, "/y": {"opens": "many"}}, "source_hash": None},
    })

    assert "batch-run-returned-nothing" in codes(findings(odd))


def test_a_real_minibatch_capture_names_the_contract_breach(tmp_path, write_script, clean_env, store_dir):
    """The runner's own capture of a failing mini-batch carries the contract failure."""
    from replay.store import LocalStore
    from tests.conftest import run_replay

    script = write_script("score.py", INIT + "def run(mini_batch):\n    results = [p for p in mini_batch]\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "doc.txt").write_text("document\n")
    result = run_replay(["parallel", "run", "--entry-script", str(script), "--input", str(data),
                         "--output", str(tmp_path / "out"), "--run-max-try", "1",
                         "--error-threshold", "-1"], clean_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    store = LocalStore(store_dir)
    (capture_id,) = store.ids()
    m = store.load(capture_id)
    assert m.kind == "minibatch"
    assert "return results" in only(findings(m), "batch-run-returned-nothing").fix
