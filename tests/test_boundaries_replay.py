"""Capture a step's upstream calls in one process, replay them in another.

The child processes play the capture agent and the replay engine's harness with the
same calls those will make. Replays run with no SDK importable, the network refused,
and the original upstream files deleted or moved, so everything they get must come
from the capture.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SECRET = "InstrumentationKey=00000000-0000-secret-connection"

DRIVER = """
import importlib.util, json, os, runpy, socket, sys
from pathlib import Path

spec = json.loads(Path(sys.argv[1]).read_text())
if spec.get("offline"):
    def refuse(*args, **kwargs):
        raise OSError("network access is refused in this test")
    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse

from replay import boundaries, stubs
from replay.store import LocalStore

class Budget:
    left = 1 << 30
    def take(self, size):
        self.left -= size
        return self.left >= 0

store = LocalStore(spec["store"])
store.ensure()
script = spec["script"]
result = {"sdk_importable": importlib.util.find_spec("azureml") is not None}
if spec["mode"] == "record":
    recorder = boundaries.start_recording(script)
    stubs.watch_sdk()
    if "local" in spec:
        from replay.stubs.local import LocalSource
        stubs.install("local", log_dir=spec["log_dir"], local=LocalSource(**spec["local"]))
else:
    calls = json.loads(Path(spec["calls"]).read_text())  # the manifest's JSON, as the harness reads it
    player = boundaries.start_replaying(calls, store, trust=False, workdir=spec["workdir"],
                                        path_map=spec.get("path_map"))
    stubs.install("replay", log_dir=spec["log_dir"], path_map=spec.get("path_map"))
sys.path.insert(0, os.path.dirname(script))
sys.argv = [script]
try:
    runpy.run_path(script, run_name="__main__")
    result["error"] = None
except Exception as exc:
    result["error"] = f"{type(exc).__name__}: {exc}"
if spec["mode"] == "record":
    calls = recorder.to_calls(store, Budget())
    Path(spec["calls"]).write_text(json.dumps([c.model_dump(mode="json") for c in calls]))
    result["notes"] = recorder.notes
else:
    result["served"] = player.served
Path(spec["result"]).write_text(json.dumps(result))
"""


def run_driver(
    tmp_path: Path, name: str, spec: dict[str, Any], pythonpath: list[Path] = ()
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Run one child; return (driver result, what the step observed, the child's output)."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    spec = {
        **spec,
        "store": str(tmp_path / "store"),
        "calls": str(tmp_path / "calls.json"),
        "result": str(tmp_path / f"{name}-result.json"),
    }
    spec_file = tmp_path / f"{name}-spec.json"
    spec_file.write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLAY_", "PYTHONPATH"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *map(str, pythonpath)])
    out = subprocess.run(
        [sys.executable, str(driver), str(spec_file)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    observed = [line for line in out.stdout.splitlines() if line.startswith("OBSERVED ")]
    assert observed, out.stdout + out.stderr
    result = json.loads(Path(spec["result"]).read_text())
    return result, json.loads(observed[-1].removeprefix("OBSERVED ")), out.stdout + out.stderr


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def write_sdk_job(root: Path, script: Path) -> Path:
    """The platform's SDK (a stand-in with its shape) under `root/site`, the model and
    data it serves under `root`, and the SDK step at `script`; returns the SDK folder."""
    sdk = root / "site"
    for rel, text in FAKE_SDK.items():
        write(sdk / rel, text)
    write(root / "models" / "threshold.txt", "0.75")
    write(root / "data" / "raw.csv", "x\n1\n2\n")
    write(root / "data" / "labels.csv", "y\n0\n")
    write(script, SDK_STEP)
    return sdk


SCORE_STEP = """
import json, logging, os
from azureml.core import Dataset, Model, Run
from opencensus.ext.azure.log_exporter import AzureLogHandler

logger = logging.getLogger("score")
logger.setLevel(logging.INFO)
logger.addHandler(AzureLogHandler(connection_string=CONNECTION))

run = Run.get_context()
model_dir = Model.get_model_path("scorer")
with open(os.path.join(model_dir, "weights.json")) as f:
    weights = json.load(f)
customers = Dataset.get_by_name(run.experiment.workspace, "customers").to_pandas_dataframe()
prepared = run.input_datasets["prepared"]
parts = sorted(os.listdir(prepared))
with open(os.path.join(prepared, parts[0])) as f:
    first_part = f.read()
run.log("model_version", weights["version"])
run.log_list("parts", parts)
run.log_row("shape", rows=len(customers), cols=customers.shape[1])
logger.info("scoring %d customers", len(customers), extra={"custom_dimensions": {"step": "score"}})
seen = {"run_id": run.id, "weights": weights, "model_dir": model_dir,
        "customers": customers.to_dict("list"), "parts": parts, "first_part": first_part}
print("OBSERVED", json.dumps(seen))
worst = max(row.spend * weights["bias"] for row in customers.itertuples())
raise ValueError(f"score {worst} out of range")
""".replace("CONNECTION", repr(SECRET))


def test_platform_step_replays_with_no_sdk_and_no_network(tmp_path: Path) -> None:
    # GIVEN a step that loads a registered model, reads a dataset and an upstream step's
    # output folder, and logs through the run and the monitoring handler
    write(tmp_path / "models" / "scorer" / "weights.json", '{"version": 3, "bias": 0.5}')
    write(tmp_path / "data" / "customers.csv", "id,spend\n1,10.0\n2,30.0\n")
    write(tmp_path / "upstream" / "part-0.txt", "rows 0-99")
    write(tmp_path / "upstream" / "part-1.txt", "rows 100-199")
    script = write(tmp_path / "src" / "score.py", SCORE_STEP)
    local = {
        "models": {"scorer": str(tmp_path / "models" / "scorer")},
        "datasets": {"customers": str(tmp_path / "data" / "customers.csv")},
        "input_datasets": {"prepared": str(tmp_path / "upstream")},
    }

    # WHEN it fails under capture against the local platform
    captured, seen_then, _ = run_driver(
        tmp_path,
        "capture",
        {"mode": "record", "script": str(script), "local": local, "log_dir": str(tmp_path / "capture-logs")},
    )
    # ... and is replayed elsewhere: the originals gone, the upstream folder moved
    shutil.rmtree(tmp_path / "models")
    shutil.rmtree(tmp_path / "data")
    shutil.move(tmp_path / "upstream", tmp_path / "local-inputs")
    replayed, seen_now, output = run_driver(
        tmp_path,
        "replay",
        {
            "mode": "replay",
            "script": str(script),
            "offline": True,
            "workdir": str(tmp_path / "work"),
            "log_dir": str(tmp_path / "replay-logs"),
            "path_map": {str(tmp_path / "upstream"): str(tmp_path / "local-inputs")},
        },
    )

    # THEN the replay saw what the capture saw, from the capture, and failed the same way
    assert not captured["sdk_importable"] and not replayed["sdk_importable"]
    assert replayed["error"] == captured["error"] == "ValueError: score 15.0 out of range"
    for fact in ("run_id", "weights", "customers", "parts", "first_part"):
        assert seen_now[fact] == seen_then[fact], fact
    assert seen_now["model_dir"].startswith(str(tmp_path / "work"))
    assert [c["name"] for c in replayed["served"]] == [
        "azureml:Run.get_context",
        "azureml:Model.get_model_path",
        "azureml:Dataset.get_by_name",
        "azureml:TabularDataset.to_pandas_dataframe",
    ]
    # ... and the metrics and traces it sent are the capture's, kept locally
    from replay.stubs import PLATFORM_LOG, PlatformLog

    then = PlatformLog.read(tmp_path / "capture-logs" / PLATFORM_LOG)
    now = PlatformLog.read(tmp_path / "replay-logs" / PLATFORM_LOG)
    assert now == then
    assert {"kind": "metric", "name": "model_version", "value": 3} in now
    assert {
        "kind": "trace",
        "name": "score",
        "value": {"level": "INFO", "message": "scoring 2 customers", "custom_dimensions": {"step": "score"}},
    } in now
    # ... and the monitoring connection string was never written anywhere
    for path in [*tmp_path.rglob("*")]:
        if path.is_file() and path.name != "score.py":
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in output


FAKE_SDK = {
    "azureml/__init__.py": "",
    "azureml/core/__init__.py": "from azureml.core.run import Run\nfrom azureml.core.model import Model\n"
    "from azureml.core.dataset import Dataset\n",
    "azureml/core/run.py": """
        class _Workspace:
            name = "ws-prod"

        class _Experiment:
            name = "churn"
            workspace = _Workspace()

        class Run:
            def __init__(self, run_id, parent=None):
                self.id, self.parent, self.experiment = run_id, parent, _Experiment()

            @classmethod
            def get_context(cls, allow_offline=True, **kwargs):
                return cls("run-42", parent=cls("pipeline-7"))

            def get_tags(self):
                return {"team": "risk"}

            @property
            def input_datasets(self):
                from azureml.data.tabular_dataset import TabularDataset
                return {"raw": TabularDataset("raw", 2, "ds-raw")}

            def log(self, name, value, description=""):
                print("sent to the service:", name, value)
        """,
    "azureml/core/model.py": """
        import os

        class Model:
            @staticmethod
            def get_model_path(model_name, version=None, _workspace=None):
                return os.path.join(os.environ["SDK_ROOT"], "models", model_name + ".txt")
        """,
    "azureml/core/dataset.py": """
        from azureml.data.tabular_dataset import TabularDataset

        class Dataset:
            @staticmethod
            def get_by_name(workspace, name, version="latest"):
                return TabularDataset(name, 1, "ds-" + name)
        """,
    "azureml/data/__init__.py": "",
    "azureml/data/tabular_dataset.py": """
        import os

        class TabularDataset:
            def __init__(self, name, version, id):
                self.name, self.version, self.id = name, version, id

            def to_pandas_dataframe(self, on_error="null", out_of_range_datetime="null"):
                import pandas
                return pandas.read_csv(os.path.join(os.environ["SDK_ROOT"], "data", self.name + ".csv"))
        """,
}

SDK_STEP = """
import json
from azureml.core import Dataset, Model, Run

run = Run.get_context()
with open(Model.get_model_path("threshold")) as f:
    threshold = float(f.read())
raw = run.input_datasets["raw"].to_pandas_dataframe()
labels = Dataset.get_by_name(run.experiment.workspace, "labels").to_pandas_dataframe()
run.log("threshold", threshold)
ids = [run.id, run.parent.id, run.experiment.name, run.experiment.workspace.name]
seen = {"run": ids, "tags": run.get_tags(), "threshold": threshold,
        "raw": raw.to_dict("list"), "labels": labels.to_dict("list")}
print("OBSERVED", json.dumps(seen))
raise RuntimeError(f"{len(raw)} rows above {threshold}")
"""


def test_calls_recorded_through_the_real_sdk_replay_through_the_fakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a job where the platform's SDK is installed (a stand-in with its shape)
    script = tmp_path / "src" / "step.py"
    sdk = write_sdk_job(tmp_path, script)
    monkeypatch.setenv("SDK_ROOT", str(tmp_path))
    # WHEN the step fails under capture with the SDK importable
    captured, seen_then, output = run_driver(
        tmp_path, "capture", {"mode": "record", "script": str(script)}, pythonpath=[sdk]
    )
    assert captured["sdk_importable"] and "sent to the service: threshold 0.75" in output
    # ... and is replayed where the SDK is not installed and the data is gone
    shutil.rmtree(tmp_path / "models")
    shutil.rmtree(tmp_path / "data")
    replayed, seen_now, _ = run_driver(
        tmp_path,
        "replay",
        {
            "mode": "replay",
            "script": str(script),
            "offline": True,
            "workdir": str(tmp_path / "work"),
            "log_dir": str(tmp_path / "logs"),
        },
    )

    # THEN the fakes serve what the real SDK returned
    assert not replayed["sdk_importable"]
    assert seen_now == seen_then
    assert seen_now["run"] == ["run-42", "pipeline-7", "churn", "ws-prod"]
    assert replayed["error"] == captured["error"] == "RuntimeError: 2 rows above 0.75"


DOTTED_CLIENT = """
import json, os

def _network(what):
    with open(os.environ["MARKER"], "a") as f:
        f.write(what + "\\n")

def fetch_features(customer_id, *, window=7):
    _network("fetch")
    return {"customer": customer_id, "window": window, "values": [0.1, 0.2]}

class Registry:
    @staticmethod
    def latest_version(name):
        _network("version")
        return 4
"""

DOTTED_STEP = """
import json
from feature_store.client import Registry, fetch_features

features = [fetch_features(c) for c in (1, 2)]
version = Registry.latest_version("churn")
print("OBSERVED", json.dumps({"features": features, "version": version}))
raise KeyError(f"no model for version {version}")
"""


def test_dotted_names_from_pyproject_are_recorded_and_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a project declaring its upstream calls in [tool.replay]
    project = tmp_path / "project"
    write(
        project / "pyproject.toml",
        """
        [project]
        name = "churn"
        [tool.replay]
        boundaries = ["feature_store.client:fetch_features", "feature_store.client:Registry.latest_version"]
        """,
    )
    write(project / "steps" / "feature_store" / "__init__.py", "")
    write(project / "steps" / "feature_store" / "client.py", DOTTED_CLIENT)
    script = write(project / "steps" / "train.py", DOTTED_STEP)
    marker = tmp_path / "network-calls.txt"
    monkeypatch.setenv("MARKER", str(marker))
    # WHEN the step fails under capture, then replays with the pyproject gone
    captured, seen_then, _ = run_driver(tmp_path, "capture", {"mode": "record", "script": str(script)})
    assert marker.read_text().split() == ["fetch", "fetch", "version"]
    marker.unlink()
    (project / "pyproject.toml").unlink()
    replay = {"mode": "replay", "script": str(script), "offline": True, "workdir": str(tmp_path / "work")}
    replayed, seen_now, _ = run_driver(tmp_path, "replay", {**replay, "log_dir": str(tmp_path / "logs")})

    # THEN the calls were served from the capture and never ran
    assert not marker.exists()
    assert seen_now == seen_then
    assert replayed["error"] == captured["error"]
    assert [c["name"] for c in replayed["served"]] == [
        "feature_store.client:fetch_features",
        "feature_store.client:fetch_features",
        "feature_store.client:Registry.latest_version",
    ]
