"""Doctor rules about the job's environment: package drift, missing secrets, management calls.

GIVEN a step that really fails under `replay capture`, WHEN the capture is diagnosed,
THEN the rule's finding is there with its evidence, and a near miss gets none.
"""

from __future__ import annotations

import json
import textwrap
from importlib.metadata import version
from pathlib import Path

from tests.conftest import run_python
from tests.doctor_support import capture, codes, findings, only

PANDAS_APPEND = """
    import pandas as pd

    frame = pd.DataFrame({"amount": [1.5]})
    frame = frame.append({"amount": 2.5}, ignore_index=True)
"""


def test_failure_inside_a_package_the_job_runs_at_another_version_than_declared(tmp_path, write_script, clean_env):
    script = write_script("step.py", PANDAS_APPEND)
    write_script("requirements.txt", "pandas==1.5.3\nnumpy<2  # old pins\n")
    m = capture(["python", str(script)], clean_env, tmp_path)

    finding = only(findings(m, clean_env["REPLAY_STORE"]), "dependency-drift")

    pandas = version("pandas")
    assert finding.severity == "error" and finding.confidence == "high"
    assert finding.message == f"the job ran pandas {pandas} but requirements.txt declares pandas==1.5.3"
    assert "AttributeError: 'DataFrame' object has no attribute 'append'" in finding.evidence
    assert f"job: pandas {pandas}" in finding.evidence
    assert "requirements.txt: pandas==1.5.3" in finding.evidence
    assert any(line.startswith("in pandas: generic.py:") for line in finding.evidence)
    assert finding.fix.startswith("pin pandas==1.5.3 in the job's environment")


def test_module_declared_in_pyproject_but_absent_from_the_job(tmp_path, write_script, clean_env):
    script = write_script("step.py", "import fancyscaler\n")
    write_script("pyproject.toml", '[project]\nname = "churn"\ndependencies = ["fancyscaler>=0.3", "pandas"]\n')
    m = capture(["python", str(script)], clean_env, tmp_path)

    finding = only(findings(m, clean_env["REPLAY_STORE"]), "dependency-drift")

    assert finding.message == "the job ran no fancyscaler but pyproject.toml declares fancyscaler>=0.3"
    assert "job: fancyscaler (not installed)" in finding.evidence
    assert finding.fix.startswith("pin fancyscaler>=0.3 ")


def test_conda_file_pins_are_read(tmp_path, write_script, clean_env):
    script = write_script("step.py", "import numpy as np\nweights = np.ones(3, dtype=np.float)\n")
    write_script("conda_dependencies.yml", textwrap.dedent("""\
        name: scoring
        dependencies:
          - python=3.11
          - conda-forge::numpy=1.23=py311_0
          - pip:
            - pandas==1.5.3
    """))
    m = capture(["python", str(script)], clean_env, tmp_path)

    finding = only(findings(m, clean_env["REPLAY_STORE"]), "dependency-drift")

    assert finding.message == (f"the job ran numpy {version('numpy')} but conda_dependencies.yml "
                               "declares conda-forge::numpy=1.23=py311_0")
    assert "in numpy: __init__.py:" in finding.evidence[-1]
    assert finding.fix.startswith("pin numpy==1.23.* ")


def fake_distribution(site: Path, ver: str, body: str) -> Path:
    """A real installed distribution `tinyfmt` (metadata folder and module) under `site`."""
    (site / "tinyfmt").mkdir(parents=True)
    (site / "tinyfmt" / "__init__.py").write_text(body)
    info = site / f"tinyfmt-{ver}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tinyfmt\nVersion: {ver}\n")
    (info / "top_level.txt").write_text("tinyfmt\n")
    return site


DIAGNOSE = """
import json, sys
from replay.doctor import diagnose
from replay.store import LocalStore
store = LocalStore(sys.argv[1])
print(json.dumps([f.to_dict() for f in diagnose(store.load(sys.argv[2]), store)]))
"""


def test_import_error_from_a_package_that_differs_from_this_environment(tmp_path, write_script, clean_env):
    job_site = fake_distribution(tmp_path / "job-site", "2.0", "def render_table(rows):\n    return rows\n")
    here_site = fake_distribution(tmp_path / "here-site", "1.4", "def render(rows):\n    return rows\n")
    script = write_script("step.py", "from tinyfmt import render\n")
    m = capture(["python", str(script)], {**clean_env, "PYTHONPATH": str(job_site)}, tmp_path)

    here = run_python(["-c", DIAGNOSE, clean_env["REPLAY_STORE"], m.id],
                      {**clean_env, "PYTHONPATH": str(here_site)})

    assert here.returncode == 0, here.stderr
    (finding,) = [f for f in json.loads(here.stdout) if f["code"] == "dependency-drift"]
    assert finding["message"] == "the job ran tinyfmt 2.0 but this environment has tinyfmt 1.4"
    assert finding["confidence"] == "medium"
    assert "job: tinyfmt 2.0" in finding["evidence"] and "here: tinyfmt 1.4" in finding["evidence"]
    assert finding["fix"].startswith("pin tinyfmt==1.4 ")


def test_near_miss_own_module_missing_and_packages_as_declared(tmp_path, write_script, clean_env):
    script = write_script("step.py", "import pandas\nimport churn_helpers\n")
    write_script("requirements.txt", f"pandas=={version('pandas')}\n")
    m = capture(["python", str(script)], clean_env, tmp_path)

    assert m.failure is not None and m.failure.type == "ModuleNotFoundError"
    assert "dependency-drift" not in codes(findings(m, clean_env["REPLAY_STORE"]))


def test_near_miss_user_error_inside_a_package_at_the_declared_version(tmp_path, write_script, clean_env):
    script = write_script("step.py", 'import pandas as pd\npd.DataFrame({"a": [1]})["b"]\n')
    write_script("requirements.txt", 'pandas>=2\npandas==1.5.3; python_version < "3.9"\n')
    m = capture(["python", str(script)], clean_env, tmp_path)

    assert "dependency-drift" not in codes(findings(m, clean_env["REPLAY_STORE"]))


READ_SECRET = """
    import os

    def connect():
        key = os.environ["STORAGE_ACCOUNT_KEY"]
        return key

    connect()
"""


def test_secret_the_job_never_received(tmp_path, write_script, clean_env):
    script = write_script("step.py", READ_SECRET)
    env = {k: v for k, v in clean_env.items() if k != "STORAGE_ACCOUNT_KEY"}
    m = capture(["python", str(script)], env, tmp_path)

    finding = only(findings(m), "missing-secret")

    assert finding.severity == "error" and finding.confidence == "high"
    assert finding.message == "the step reads the secret STORAGE_ACCOUNT_KEY, which was not set in the job"
    assert "KeyError: 'STORAGE_ACCOUNT_KEY'" in finding.evidence
    assert any("step.py:5 in connect" in line for line in finding.evidence)
    assert "get_secret('STORAGE_ACCOUNT_KEY')" in finding.fix


def test_failure_naming_a_secret_that_was_set_but_redacted(tmp_path, write_script, clean_env):
    script = write_script("step.py", """
        import os
        if not os.environ["DB_PASSWORD"].startswith("pw-"):
            raise RuntimeError("login refused for the password in environment variable DB_PASSWORD")
    """)
    secret = "correct-horse-battery-staple-42"
    m = capture(["python", str(script)], {**clean_env, "DB_PASSWORD": secret}, tmp_path)

    finding = only(findings(m), "missing-secret")

    assert finding.severity == "warning" and finding.confidence == "medium"
    assert "DB_PASSWORD was set in the job; its value is redacted from the capture" in finding.evidence
    assert f"replay run {m.id} --env DB_PASSWORD=..." in finding.fix
    assert secret not in json.dumps(finding.to_dict())


def test_near_miss_key_errors_that_are_not_the_environment(tmp_path, write_script, clean_env):
    script = write_script("step.py", """
        import sys
        RATES = {"EUR": 1.08}
        columns = {"amount": 0}
        try:
            RATES["CHF"]
        except KeyError:
            columns["MISSING_COLUMN"]
    """)
    m = capture(["python", str(script)], clean_env, tmp_path)

    assert m.failure is not None and m.failure.type == "KeyError"
    assert "missing-secret" not in codes(findings(m))


CREATE_COMPUTE = '''
    class ComputeTargetException(Exception):
        """What the SDK raises when the resource provider refuses a compute operation."""


    class ComputeTarget:
        @staticmethod
        def create(workspace, name, config):
            raise ComputeTargetException(
                "ComputeTargetException:\\n\\tMessage: Received bad response from Resource Provider:\\n"
                "Response Code: 401\\nHeaders: {'WWW-Authenticate': 'Bearer'}\\n"
                "Content: b'{\\"error\\":{\\"code\\":\\"InvalidOrExpiredToken\\","
                "\\"message\\":\\"The access token is invalid or has expired.\\"}}'"
            )
'''


def test_compute_target_created_from_inside_the_job(tmp_path, write_script, clean_env):
    write_script("sdk_compute.py", CREATE_COMPUTE)
    script = write_script("train.py", """
        from sdk_compute import ComputeTarget

        def ensure_cluster(ws):
            return ComputeTarget.create(ws, "gpu-cluster", {"vm_size": "STANDARD_NC6"})

        ensure_cluster(ws=None)
    """)
    m = capture(["python", str(script)], clean_env, tmp_path)

    finding = only(findings(m), "management-operation-in-job")

    assert finding.confidence == "high"
    assert any("InvalidOrExpiredToken" in line for line in finding.evidence)
    assert any("ComputeTarget.create(ws, \"gpu-cluster\"" in line for line in finding.evidence)
    assert "submits the pipeline" in finding.fix


def test_authentication_failed_in_the_log_of_a_job_that_exits_1(tmp_path, write_script, clean_env):
    script = write_script("attach.py", """
        import logging, sys
        logging.basicConfig()
        logging.getLogger("azureml").error("attach failed: AuthenticationFailed: the job's identity cannot do this")
        sys.exit(1)
    """)
    m = capture(["python", str(script)], clean_env, tmp_path)

    finding = only(findings(m), "management-operation-in-job")

    assert finding.confidence == "medium"
    assert "attach failed: AuthenticationFailed: the job's identity cannot do this" in finding.evidence


def test_near_miss_storage_authentication_and_plain_401(tmp_path, write_script, clean_env):
    storage = write_script("read_blob.py", """
        raise PermissionError(
            "Server failed to authenticate the request. Make sure the value of Authorization header "
            "is formed correctly including the signature.\\nErrorCode:AuthenticationFailed")
    """)
    http = write_script("call_api.py", 'raise RuntimeError("401 Unauthorized: bad credentials for api.example.com")\n')

    for script in (storage, http):
        m = capture(["python", str(script)], clean_env, tmp_path)
        assert "management-operation-in-job" not in codes(findings(m))
