"""End to end: upstream calls recorded by the real agent are served by `replay run`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from replay.store import LocalStore
from tests.agreement import agree_on_variants
from tests.conftest import run_replay
from tests.test_boundaries_replay import write_sdk_job


def _capture_sdk_step(tmp_path: Path, env: dict[str, str], store_dir: Path) -> tuple[str, Path]:
    script = tmp_path / "job" / "score.py"
    sdk = write_sdk_job(tmp_path, script)
    job_env = {**env, "PYTHONPATH": str(sdk), "SDK_ROOT": str(tmp_path)}
    result = run_replay(["capture", "--", "python", str(script)], job_env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "sent to the service: threshold 0.75" in result.stdout
    # The laptop has no SDK and none of the platform's data.
    for gone in ("site", "models", "data"):
        shutil.rmtree(tmp_path / gone)
    (capture_id,) = LocalStore(store_dir).ids()
    return capture_id, script


def test_platform_step_replays_without_sdk_or_data(tmp_path, clean_env, store_dir):
    capture_id, _ = _capture_sdk_step(tmp_path, clean_env, store_dir)
    manifest = LocalStore(store_dir).load(capture_id)
    assert {c.name.split(":")[-1] for c in manifest.upstream} >= {"Run.get_context", "Model.get_model_path"}
    result = run_replay(["run", capture_id, "--json"], clean_env, cwd=tmp_path)
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "reproduced", result.stderr
    assert verdict["replayed"]["message"] == "2 rows above 0.75"
    assert {"kind": "metric", "name": "threshold", "value": 0.75} in verdict["platform_log"]
    assert '"run": ["run-42", "pipeline-7", "churn", "ws-prod"]' in result.stderr


def test_upstream_calls_are_served_without_loading_pydantic(tmp_path, clean_env, store_dir):
    """The harness reads the recorded calls as validated plain data: pydantic and the
    capture models would add ~200 ms to every replay of a step with upstream calls."""
    capture_id, _ = _capture_sdk_step(tmp_path, clean_env, store_dir)
    env = {**clean_env, "PYTHONPROFILEIMPORTTIME": "1"}  # inherited by the harness
    result = run_replay(["run", capture_id, "--json"], env, cwd=tmp_path)
    assert json.loads(result.stdout)["verdict"] == "reproduced", result.stderr
    imported = {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "replay.engine.upstream" in imported  # the harness's imports are listed too
    assert not imported & {"pydantic", "replay.bundle"}


def test_a_capture_with_upstream_calls_is_ruled_on_without_pydantic_as_pydantic_rules(
        tmp_path, clean_env, store_dir):
    capture_id, _ = _capture_sdk_step(tmp_path, clean_env, store_dir)
    agree_on_variants(LocalStore(store_dir).manifest_bytes(capture_id), seed=32)


def test_a_call_the_capture_never_saw_is_a_clear_error(tmp_path, clean_env, store_dir):
    capture_id, script = _capture_sdk_step(tmp_path, clean_env, store_dir)
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "score.py").write_text(script.read_text().replace(
        'Model.get_model_path("threshold")', 'Model.get_model_path("threshold-v2")'))
    result = run_replay(["run", capture_id, "--source", str(changed)], clean_env, cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("replay: the replay could not serve the step")
    assert "threshold-v2" in last


def test_pickled_results_are_refused_without_trust(tmp_path, write_script, clean_env, store_dir):
    write_script("scaler.py", """
        class Scaler:
            def __init__(self, factor):
                self.factor = factor
    """)
    script = write_script("step.py", """
        import replay
        from scaler import Scaler

        @replay.boundary
        def load_scaler():
            return Scaler(3)

        scaler = load_scaler()
        raise ValueError(f"factor {scaler.factor} too large")
    """)
    run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    (capture_id,) = LocalStore(store_dir).ids()
    refused = run_replay(["run", capture_id], clean_env, cwd=tmp_path)
    assert refused.returncode == 2
    assert "load_scaler" in refused.stderr and "--trust" in refused.stderr
    assert "Traceback" not in refused.stderr
    trusted = run_replay(["run", capture_id, "--trust", "--json"], clean_env, cwd=tmp_path)
    assert json.loads(trusted.stdout)["verdict"] == "reproduced", trusted.stderr
