"""Doctor rules about files and folders: output folders, cwd-relative and laptop paths.

GIVEN a step that really fails under `replay capture`, WHEN the capture is diagnosed,
THEN the rule's finding is there with its evidence, and a near miss gets none.
"""

from __future__ import annotations

import pytest

from tests.doctor_support import capture, codes, findings, only

WRITE_TOTAL = """
    import argparse, os

    def main():
        parser = argparse.ArgumentParser()
        parser.add_argument("--input", required=True)
        parser.add_argument("--output-dir", required=True)
        args = parser.parse_args()
        total = sum(float(line) for line in open(args.input))
        with open(os.path.join(args.output_dir, {name}), "w") as out:
            out.write(str(total))

    main()
"""


@pytest.fixture
def numbers(tmp_path):
    path = tmp_path / "numbers.txt"
    path.write_text("1\n2\n")
    return path


def test_output_folder_never_created_is_named_with_the_makedirs_call(tmp_path, write_script, clean_env, numbers):
    script = write_script("total.py", WRITE_TOTAL.format(name='"total.txt"'))
    out = tmp_path / "out"  # its parent exists, as a platform-provided output path's does
    m = capture(["python", str(script), "--input", str(numbers), "--output-dir", str(out)], clean_env, tmp_path)

    finding = only(findings(m), "output-dir-missing")

    assert finding.severity == "error" and finding.confidence == "high"
    assert str(out) in finding.message
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{out}/total.txt'" in finding.evidence
    assert f"output {out}: existed at start: no, at end: no" in finding.evidence
    assert f"opened for writing: {out}/total.txt" in finding.evidence
    assert "os.makedirs(args.output_dir, exist_ok=True)" in finding.fix
    assert "total.py:10 in main" in finding.fix


def test_pandas_saving_into_a_missing_output_folder(tmp_path, write_script, clean_env):
    script = write_script("export.py", """
        import argparse, os
        import pandas as pd

        parser = argparse.ArgumentParser()
        parser.add_argument("--output-data", required=True)
        args = parser.parse_args()
        pd.DataFrame({"id": [1, 2]}).to_csv(os.path.join(args.output_data, "scores.csv"))
    """)
    out = tmp_path / "scored"  # the parent exists, as on the platform
    m = capture(["python", str(script), "--output-data", str(out)], clean_env, tmp_path)

    finding = only(findings(m), "output-dir-missing")

    assert finding.confidence == "high"
    assert f"OSError: Cannot save file into a non-existent directory: '{out}'" in finding.evidence
    assert "os.makedirs(args.output_data, exist_ok=True)  # the folder given by --output-data" in finding.fix


def test_missing_sub_folder_of_an_existing_output_is_named(tmp_path, write_script, clean_env, numbers):
    script = write_script("total.py", WRITE_TOTAL.format(name='"plots/total.txt"'))
    out = tmp_path / "out"
    out.mkdir()
    m = capture(["python", str(script), "--input", str(numbers), "--output-dir", str(out)], clean_env, tmp_path)

    finding = only(findings(m), "output-dir-missing")

    assert f"{out}/plots" in finding.message
    assert "os.makedirs(os.path.dirname(path), exist_ok=True)" in finding.fix


def test_near_miss_missing_input_is_not_an_output_folder_problem(tmp_path, write_script, clean_env):
    script = write_script("total.py", WRITE_TOTAL.format(name='"total.txt"'))
    m = capture(["python", str(script), "--input", str(tmp_path / "absent.txt"),
                 "--output-dir", str(tmp_path / "out")], clean_env, tmp_path)

    assert m.failure is not None and m.failure.type == "FileNotFoundError"
    assert "output-dir-missing" not in codes(findings(m))


READ_LOOKUP = """
    import json

    def load_rates():
        with open({path!r}) as f:
            return json.load(f)

    print(load_rates()["EUR"])
"""


def test_file_next_to_the_script_read_relative_to_cwd_gets_the_file_idiom(tmp_path, write_script, clean_env):
    script = write_script("score.py", READ_LOOKUP.format(path="config/rates.json"))
    write_script("config/rates.json", '{"EUR": 1.1}')
    m = capture(["python", str(script)], clean_env, tmp_path)  # started from tmp_path, not src/

    finding = only(findings(m, clean_env["REPLAY_STORE"]), "path-relative-to-cwd")

    assert finding.confidence == "high"
    assert "FileNotFoundError: [Errno 2] No such file or directory: 'config/rates.json'" in finding.evidence
    assert f"working directory {tmp_path}: looked for {tmp_path}/config/rates.json" in finding.evidence
    assert f"captured source has config/rates.json (at {tmp_path}/src/config/rates.json)" in finding.evidence
    assert finding.fix.endswith("os.path.join(os.path.dirname(os.path.abspath(__file__)), 'config/rates.json')")


def test_near_miss_relative_file_that_is_nowhere_in_the_source(tmp_path, write_script, clean_env):
    script = write_script("score.py", READ_LOOKUP.format(path="config/rates.json"))
    m = capture(["python", str(script)], clean_env, tmp_path)

    assert not codes(findings(m, clean_env["REPLAY_STORE"])) & {"path-relative-to-cwd", "local-path-baked-in"}


def test_laptop_path_in_the_code_whose_file_is_in_the_source(tmp_path, write_script, clean_env):
    laptop = "/Users/alice/projects/churn/config/rates.json"
    script = write_script("score.py", READ_LOOKUP.format(path=laptop))
    write_script("config/rates.json", '{"EUR": 1.1}')
    m = capture(["python", str(script)], clean_env, tmp_path)

    finding = only(findings(m, clean_env["REPLAY_STORE"]), "local-path-baked-in")

    assert finding.confidence == "high"
    assert laptop in finding.message and "macOS home folder" in finding.message
    assert "captured source has config/rates.json" in finding.evidence
    assert "os.path.join(os.path.dirname(os.path.abspath(__file__)), 'config/rates.json')" in finding.fix


def test_another_users_home_folder_is_named_with_medium_confidence(tmp_path, write_script, clean_env):
    script = write_script("score.py", READ_LOOKUP.format(path="/home/alice/data/rates.json"))
    env = {**clean_env, "HOME": str(tmp_path)}
    m = capture(["python", str(script)], env, tmp_path)

    finding = only(findings(m, clean_env["REPLAY_STORE"]), "local-path-baked-in")

    assert finding.confidence == "medium"
    assert f"the job ran as HOME={tmp_path}" in finding.evidence[-1]
    assert "take the path as an argument" in finding.fix


def test_near_miss_absolute_path_of_the_job_machine(tmp_path, write_script, clean_env):
    script = write_script("score.py", READ_LOOKUP.format(path=str(tmp_path / "mnt" / "rates.json")))
    m = capture(["python", str(script)], clean_env, tmp_path)

    assert "local-path-baked-in" not in codes(findings(m, clean_env["REPLAY_STORE"]))
