"""`replay run`: rebuild a captured step, judge the outcome, attach a debugger."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replay.dap import attach
from replay.store import LocalStore
from tests.agreement import agree_on_variants
from tests.conftest import run_replay

STEP = """
    import argparse, csv, os

    RATES = {"eu": 1.1, "us": 1.0}

    def score(row):
        return float(row["amount"]) * RATES[row["region"]]

    def main():
        p = argparse.ArgumentParser()
        p.add_argument("--input", required=True)
        p.add_argument("--output-dir", required=True)
        args = p.parse_args()
        os.makedirs(args.output_dir, exist_ok=True)
        total = 0.0
        with open(args.input, newline="") as f:
            for row_id, row in enumerate(csv.DictReader(f)):
                total += score(row)
        with open(os.path.join(args.output_dir, "total.txt"), "w") as out:
            out.write(str(total))
        print("total", total)

    main()
"""


@pytest.fixture
def captured(tmp_path, write_script, clean_env, store_dir):
    """A real capture of a step that fails on its third row; the input and the output
    folder are then deleted, so the replay can only use its own copies."""
    script = write_script("score.py", STEP)
    data = tmp_path / "data"
    data.mkdir()
    (data / "sales.csv").write_text("amount,region\n10,eu\n5,us\n7,apac\n3,eu\n")
    result = run_replay(["capture", "--", "python", str(script), "--input", str(data / "sales.csv"),
                         "--output-dir", str(tmp_path / "out")], clean_env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    shutil.rmtree(data)
    shutil.rmtree(tmp_path / "out")
    (capture_id,) = LocalStore(store_dir).ids()
    return capture_id, script


def test_the_capture_is_ruled_on_without_pydantic_as_pydantic_rules(captured, store_dir):
    agree_on_variants(LocalStore(store_dir).manifest_bytes(captured[0]), seed=31)


def _verdict(result) -> dict:
    return json.loads(result.stdout)


def test_replay_reproduces_the_captured_failure(captured, clean_env, tmp_path):
    capture_id, _ = captured
    result = run_replay(["run", capture_id[:5], "--json"], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    verdict = _verdict(result)
    assert verdict["verdict"] == "reproduced"
    assert verdict["replayed"]["type"] == "KeyError" and verdict["replayed"]["function"] == "score"
    assert verdict["same_message"] is True
    assert "KeyError: 'apac'" in result.stderr  # the step's own traceback


def test_an_input_whose_blob_was_altered_is_refused(captured, clean_env, tmp_path, store_dir):
    capture_id, _ = captured
    manifest = LocalStore(store_dir).load(capture_id)
    (item,) = [i for i in manifest.inputs if i.path.endswith("sales.csv")]
    blob = LocalStore(store_dir).blob_path(item.sha256)
    blob.chmod(0o644)
    blob.write_text("amount,region\n1,eu\n")
    result = run_replay(["run", capture_id], clean_env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"blob {item.sha256[:12]} does not match its hash" in result.stderr
    assert "Traceback" not in result.stderr


def test_fixed_working_copy_passes(captured, clean_env, tmp_path):
    capture_id, script = captured
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    (fixed / "score.py").write_text(script.read_text().replace('RATES[row["region"]]',
                                                               'RATES.get(row["region"], 1.0)'))
    result = run_replay(["run", capture_id, "--source", str(fixed), "--json"], clean_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _verdict(result)["verdict"] == "passed"


def test_another_bug_is_different(captured, clean_env, tmp_path):
    capture_id, script = captured
    other = tmp_path / "other"
    other.mkdir()
    (other / "score.py").write_text(script.read_text().replace(
        '    total = 0.0', '    total = 0.0\n    raise ValueError("new bug")'))
    result = run_replay(["run", capture_id, "--source", str(other), "--json"], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    verdict = _verdict(result)
    assert verdict["verdict"] == "different"
    assert verdict["captured"]["type"] == "KeyError" and verdict["replayed"]["type"] == "ValueError"
    history = LocalStore(clean_env["REPLAY_STORE"]).read_json(capture_id, "verdicts.json")
    assert [h["verdict"] for h in history] == ["different"]


def test_output_folder_is_an_empty_place_not_the_original(captured, clean_env, tmp_path):
    capture_id, _ = captured
    work = tmp_path / "work"
    run_replay(["run", capture_id, "--workdir", str(work), "--json"], clean_env, cwd=tmp_path)
    assert (work / "cwd" / "src" / "score.py").is_file()  # the source lived under the cwd
    assert not (tmp_path / "out").exists()
    assert (work / "cwd" / "out").is_dir()  # created by the step itself, at its relative place


def _start_attached(capture_id: str, env: dict[str, str], cwd: Path, ready: Path, *extra: str):
    proc = subprocess.Popen(
        [sys.executable, "-m", "replay", "run", capture_id, "--attach", "--port", "0", "--json",
         "--ready-file", str(ready), *extra],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"replay never listened: {proc.communicate()}")
        time.sleep(0.02)
    return proc, json.loads(ready.read_text())


def test_attach_lands_on_the_failure_site_with_the_failing_locals(captured, clean_env, tmp_path):
    capture_id, _ = captured
    store = LocalStore(clean_env["REPLAY_STORE"])
    manifest = store.load(capture_id)
    site = manifest.failure.site_frame()
    caller = manifest.failure.frames[manifest.failure.site - 1]
    proc, ready = _start_attached(capture_id, clean_env, tmp_path, tmp_path / "ready.json")
    try:
        with attach(ready["host"], ready["port"], exception_filters=()) as session:
            stop = session.wait_for_stop(timeout=30)
            assert stop.event.reason == "exception"
            assert stop.top.name == "score"
            assert stop.top.line == site.line
            assert Path(stop.top.path).name == "score.py"
            local = session.locals_of(stop.top.id)
            assert local["row"].value == site.locals["row"]
            main_frame = next(f for f in stop.frames if f.name == "main")
            assert session.locals_of(main_frame.id)["row_id"].value == caller.locals["row_id"] == "2"
            session.client.continue_(stop.thread_id)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    assert json.loads(out)["verdict"] == "reproduced"
    assert "replay tui --attach" in err


def test_vscode_path_mappings_bind_a_breakpoint_in_the_users_file(captured, clean_env, tmp_path):
    capture_id, script = captured
    launch = tmp_path / ".vscode" / "launch.json"
    result = run_replay(["vscode", capture_id, "--port", "0", "--local-root", str(script.parent),
                         "--output", str(launch)], clean_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (config,) = json.loads(launch.read_text())["configurations"]
    assert config["type"] == "debugpy" and config["request"] == "attach"
    line = script.read_text().splitlines().index("    total = 0.0") + 1
    proc, ready = _start_attached(capture_id, clean_env, tmp_path, tmp_path / "ready.json", "--from-start")
    try:
        with attach(ready["host"], ready["port"], path_mappings=config["pathMappings"],
                    breakpoints={str(script): [line]}, exception_filters=()) as session:
            assert session.breakpoints[str(script)][0].verified
            stop = session.wait_for_stop(timeout=30)
            assert stop.event.reason == "breakpoint"
            assert stop.top.path == str(script) and stop.top.line == line
            session.client.continue_(stop.thread_id)
            post_mortem = session.wait_for_stop(timeout=30)
            assert post_mortem.top.name == "score"
            session.client.continue_(post_mortem.thread_id)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_reference_only_inputs_must_be_mapped(tmp_path, write_script, clean_env, store_dir):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 200_000)
    script = write_script("step.py", "import sys\nopen(sys.argv[1],'rb').read()\nraise ValueError('v')\n")
    run_replay(["capture", "--max-file-bytes", "100KB", "--", "python", str(script), str(big)],
               clean_env, cwd=tmp_path)
    (capture_id,) = LocalStore(store_dir).ids()
    missing = run_replay(["run", capture_id], clean_env, cwd=tmp_path)
    assert missing.returncode == 2
    assert f"--input-map {big}=LOCAL_PATH" in missing.stderr
    local = tmp_path / "local.bin"
    local.write_bytes(b"y")
    mapped = run_replay(["run", capture_id, "--input-map", f"{big}={local}", "--json"], clean_env, cwd=tmp_path)
    assert _verdict(mapped)["verdict"] == "reproduced"


def test_unsupplied_secret_is_named_and_supplied_one_reaches_the_step(tmp_path, write_script, clean_env, store_dir):
    script = write_script("step.py", """
        import os
        if os.environ.get("DB_PASSWORD") == "local-secret":
            print("connected")
        else:
            raise PermissionError("no database password")
    """)
    run_replay(["capture", "--", "python", str(script)], {**clean_env, "DB_PASSWORD": "remote-pw-123"},
               cwd=tmp_path)
    (capture_id,) = LocalStore(store_dir).ids()
    without = run_replay(["run", capture_id, "--json"], clean_env, cwd=tmp_path)
    assert "redacted variables not supplied" in without.stderr and "DB_PASSWORD" in without.stderr
    assert _verdict(without)["verdict"] == "reproduced"
    env_file = tmp_path / "secrets.env"
    env_file.write_text("# local secrets\nDB_PASSWORD='local-secret'\n")
    with_secret = run_replay(["run", capture_id, "--env-file", str(env_file), "--json"], clean_env, cwd=tmp_path)
    assert _verdict(with_secret)["verdict"] == "passed"
    assert "connected" in with_secret.stderr  # the step's stdout goes to stderr under --json


def test_bad_arguments_are_clear_errors(captured, clean_env, tmp_path):
    capture_id, _ = captured
    bad_env = run_replay(["run", capture_id, "--env", "NOEQUALS"], clean_env, cwd=tmp_path)
    assert bad_env.returncode == 2 and "expected NAME=VALUE" in bad_env.stderr
    bad_source = run_replay(["run", capture_id, "--source", str(tmp_path / "nope")], clean_env, cwd=tmp_path)
    assert bad_source.returncode == 2 and "not a folder" in bad_source.stderr
