"""What a capture holds, on a realistic step run by the real agent."""

from __future__ import annotations

import json
import os

import pytest

from replay.store import LocalStore
from tests.conftest import run_replay

STEP = """
    import argparse, csv, logging, os

    log = logging.getLogger("score")

    def score(row):
        return float(row["amount"]) * RATES[row["region"]]

    RATES = {"eu": 1.1, "us": 1.0}

    def main():
        p = argparse.ArgumentParser()
        p.add_argument("--input", required=True)
        p.add_argument("--output-dir", required=True)
        p.add_argument("--token")
        args = p.parse_args()
        logging.basicConfig(level=logging.INFO)
        with open(os.path.join(os.path.dirname(__file__), "lookup.json")) as f:
            f.read()
        total = 0.0
        with open(args.input, newline="") as f:
            for row_id, row in enumerate(csv.DictReader(f)):
                log.info("row %s", row_id)
                total += score(row)
        print("total", total)

    main()
"""


@pytest.fixture
def failed_capture(tmp_path, write_script, clean_env, store_dir):
    script = write_script("score.py", STEP)
    write_script("lookup.json", "{}")
    data = tmp_path / "data"
    data.mkdir()
    (data / "sales.csv").write_text("amount,region\n10,eu\n5,us\n7,apac\n3,eu\n")
    extra = tmp_path / "side.txt"
    extra.write_text("side input\n")
    env = {**clean_env, "DB_PASSWORD": "hunter2-is-not-a-good-one", "PLAIN_SETTING": "42"}
    result = run_replay(
        ["capture", "--input", str(extra), "--name", "score-sales", "--",
         "python", str(script), "--input", str(data / "sales.csv"),
         "--output-dir", str(tmp_path / "out"), "--token", "tok-abcdef0123456789"],
        env, cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    store = LocalStore(store_dir)
    (capture_id,) = store.ids()
    return store, store.load(capture_id), tmp_path


def test_step_section(failed_capture):
    store, m, tmp = failed_capture
    assert m.step.name == "score-sales"
    assert m.step.mode == "script"
    assert m.step.target == str(tmp / "src" / "score.py")
    assert m.step.cwd == str(tmp)
    assert m.step.source_root == str(tmp / "src")
    assert "--token" in m.step.argv and "tok-abcdef0123456789" not in m.step.argv
    assert {s.path for s in m.step.sources} == {"score.py", "lookup.json"}
    for s in m.step.sources:
        assert store.has_blob(s.sha256)


def test_failure_section_points_at_the_failing_row(failed_capture):
    _, m, tmp = failed_capture
    f = m.failure
    assert f.type == "KeyError" and f.message == "'apac'"
    site = f.site_frame()
    assert site.function == "score"
    assert site.code == 'return float(row["amount"]) * RATES[row["region"]]'
    assert "'apac'" in site.locals["row"]
    caller = f.frames[f.site - 1]
    assert caller.function == "main" and caller.locals["row_id"] == "2"
    assert all(frame.file != __file__ for frame in f.frames)
    assert "KeyError: 'apac'" in f.traceback


def test_inputs_outputs_and_logs(failed_capture):
    store, m, tmp = failed_capture
    by_path = {i.path: i for i in m.inputs}
    sales = by_path[str(tmp / "data" / "sales.csv")]
    assert sales.how == "argv" and sales.copied and sales.size == len("amount,region\n10,eu\n5,us\n7,apac\n3,eu\n")
    assert store.read_blob(sales.sha256).startswith(b"amount,region")
    assert by_path[str(tmp / "side.txt")].how == "declared"
    assert str(tmp / "src" / "lookup.json") not in by_path  # a source file, kept as source
    (out,) = m.outputs
    assert out.path == str(tmp / "out") and not out.existed_at_start and not out.existed_at_end
    assert [r.message for r in m.logs.records] == ["row 0", "row 1", "row 2"]
    assert "INFO:score:row 2" in m.logs.stderr


def test_environment_section(failed_capture):
    store, m, _ = failed_capture
    env = m.environment
    assert env.variables["PLAIN_SETTING"] == "42"
    assert "DB_PASSWORD" in env.redacted and "hunter2" not in env.variables["DB_PASSWORD"]
    assert env.python["version"].startswith("3.")
    names = {d.name for d in env.distributions}
    assert {"pydantic", "debugpy"} <= names
    pylock = store.read_blob(env.pylock).decode()
    assert 'lock-version = "1.0"' in pylock
    assert "pydantic==" in store.read_blob(env.requirements).decode()
    assert any(d.source == "editable" for d in env.distributions if d.name == "step-replay")


def test_opened_files_become_inputs(tmp_path, write_script, clean_env, store_dir):
    data = tmp_path / "hidden"
    data.mkdir()
    (data / "a.txt").write_text("alpha")
    (data / "b.bin").write_bytes(b"\x00" * 100)
    script = write_script("step.py", f"""
        import os
        root = {str(data)!r}
        for name in sorted(os.listdir(root)):
            with open(os.path.join(root, name), "rb") as f:
                f.read()
        fd = os.open(os.path.join(root, "a.txt"), os.O_RDONLY); os.close(fd)
        raise RuntimeError("after reading")
    """)
    run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    store = LocalStore(store_dir)
    (m,) = [store.load(i) for i in store.ids()]
    opened = {i.path: i for i in m.inputs if i.how == "opened"}
    assert set(opened) == {str(data / "a.txt"), str(data / "b.bin")}
    assert store.read_blob(opened[str(data / "a.txt")].sha256) == b"alpha"


def test_dataframe_locals_are_summarised(tmp_path, write_script, clean_env, store_dir):
    script = write_script("step.py", """
        import pandas as pd
        frame = pd.DataFrame({"id": range(1000), "value": [0.5] * 1000})
        def check(df):
            raise ValueError(f"bad frame of {len(df)} rows")
        check(frame)
    """)
    run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    store = LocalStore(store_dir)
    (m,) = [store.load(i) for i in store.ids()]
    df = m.failure.site_frame().locals["df"]
    assert df.startswith("DataFrame shape=(1000, 2) dtypes={id: int64, value: float64}")
    assert len(df) < 1000


def test_successful_steps_are_not_captured_unless_always(tmp_path, write_script, clean_env, store_dir):
    script = write_script("ok.py", "print('ok')\n")
    run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert LocalStore(store_dir).ids() == []
    result = run_replay(["capture", "--always", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert result.returncode == 0 and "replay:" not in result.stderr
    (m,) = [LocalStore(store_dir).load(i) for i in LocalStore(store_dir).ids()]
    assert m.status == "passed" and m.failure is None


def test_reference_only_inputs_over_budget(tmp_path, write_script, clean_env, store_dir):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(300_000))
    script = write_script("step.py", "import sys\nopen(sys.argv[1],'rb').read()\nraise ValueError\n")
    run_replay(["capture", "--max-file-bytes", "100KB", "--", "python", str(script), str(big)],
               clean_env, cwd=tmp_path)
    store = LocalStore(store_dir)
    (m,) = [store.load(i) for i in store.ids()]
    (inp,) = m.inputs
    assert inp.path == str(big) and not inp.copied and inp.size == 300_000 and inp.sha256 is None


def test_show_and_ls_render_the_capture(failed_capture, clean_env):
    store, m, _ = failed_capture
    shown = run_replay(["show", m.id[:4]], clean_env)
    assert shown.returncode == 0
    assert "KeyError: 'apac'" in shown.stdout and "in score" in shown.stdout
    listed = run_replay(["ls"], clean_env)
    assert m.id in listed.stdout and "score-sales" in listed.stdout
    as_json = json.loads(run_replay(["show", m.id, "--json"], clean_env).stdout)
    assert as_json["id"] == m.id and as_json["schema_version"] == 1
