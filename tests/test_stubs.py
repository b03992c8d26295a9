"""The fake platform SDK in one process: what it serves, what it refuses, what it keeps."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from replay import boundaries, stubs
from replay.stubs import PLATFORM_LOG, PlatformLog
from replay.stubs.local import LocalSource
from replay.stubs.service import NotAvailable


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    before = list(sys.meta_path)
    yield
    stubs.uninstall()
    boundaries.stop()
    boundaries.unpatch_all()
    assert sys.meta_path == before
    assert not [m for m in sys.modules if m.split(".")[0] in ("azureml", "azureml_user", "opencensus")]


@pytest.fixture
def local(tmp_path: Path) -> stubs.Platform:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.txt").write_text("weights")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"png-a")
    (tmp_path / "images" / "sub").mkdir()
    (tmp_path / "images" / "sub" / "b.png").write_bytes(b"png-b")
    source = LocalSource(
        models={"m": tmp_path / "model"},
        datasets={"people": pd.DataFrame({"name": ["ada", "bob"]})},
        file_datasets={"images": tmp_path / "images"},
    )
    return stubs.install("local", log_dir=tmp_path / "logs", working_dir=tmp_path, local=source)


def test_management_calls_say_to_use_the_submitting_client(local: stubs.Platform) -> None:
    from azureml.core import ComputeTarget, Dataset, Run, Workspace
    from azureml.core.compute import ComputeTarget as SameComputeTarget

    assert SameComputeTarget is ComputeTarget
    for attempt in (
        lambda: Workspace.from_config(),
        lambda: Workspace.get(name="ws", subscription_id="s", resource_group="rg"),
        lambda: ComputeTarget.create(None, "gpu", None),
        lambda: ComputeTarget(None, "gpu"),
        lambda: Run.get_context().register_model("m", "outputs/m.pkl"),
        lambda: Dataset.Tabular.from_delimited_files("path"),
    ):
        with pytest.raises(
            NotAvailable, match=r"not available in a local run: management operations.*submitting client"
        ):
            attempt()


def test_replay_mode_says_during_replay(tmp_path: Path) -> None:
    stubs.install("replay", log_dir=tmp_path)
    from azureml.core import Workspace

    with pytest.raises(NotAvailable, match=r"Workspace\.from_config is not available during replay"):
        Workspace.from_config()


def test_unknown_sdk_names_import_and_fail_only_when_used(local: stubs.Platform) -> None:
    from azureml.core.authentication import MsiAuthentication
    from azureml.exceptions import UserErrorException, WebserviceException

    with pytest.raises(NotAvailable, match="MsiAuthentication"):
        MsiAuthentication()
    assert issubclass(WebserviceException, Exception) and issubclass(UserErrorException, Exception)
    with pytest.raises(ImportError):
        from azureml.core import _private_name  # noqa: F401


class Figure:
    """What `log_image` needs of a matplotlib figure."""

    def savefig(self, path: Path) -> None:
        Path(path).write_bytes(b"png")


def test_run_context_keeps_tags_metrics_and_uploads_locally(local: stubs.Platform, tmp_path: Path) -> None:
    from azureml.core.run import Run

    run = Run.get_context()
    assert run.id.startswith("OfflineRun_") and run.experiment.name == "local"
    run.log("loss", 0.25)
    run.log_table("confusion", {"tp": [3], "fp": [1]})
    run.tag("stage", "score")
    run.set_tags({"team": "risk"})
    assert Run.get_context().get_tags() == {"stage": "score", "team": "risk"}
    assert run.get_metrics() == {"loss": 0.25}
    (tmp_path / "report.txt").write_text("report")
    run.upload_file("../../outside/report.txt", str(tmp_path / "report.txt"))
    run.log_image("roc", plot=Figure())
    run.complete()
    assert (tmp_path / "logs" / "uploads" / "outside" / "report.txt").read_text() == "report"
    assert (tmp_path / "logs" / "images" / "roc.png").read_bytes() == b"png"
    assert PlatformLog.read(tmp_path / "logs" / PLATFORM_LOG) == [
        {"kind": "metric", "name": "loss", "value": 0.25},
        {"kind": "table", "name": "confusion", "value": {"tp": [3], "fp": [1]}},
        {"kind": "tag", "name": "stage", "value": "score"},
        {"kind": "tag", "name": "team", "value": "risk"},
        {"kind": "upload", "name": "../../outside/report.txt", "value": "uploads/outside/report.txt"},
        {"kind": "image", "name": "roc", "value": "images/roc.png"},
        {"kind": "status", "name": run.id, "value": "Completed"},
    ]
    assert local.log.entries == PlatformLog.read(tmp_path / "logs" / PLATFORM_LOG)


def test_model_path_resolves_locally_and_unknown_models_say_how_to_supply_them(
    local: stubs.Platform, tmp_path: Path
) -> None:
    from azureml.core import Model
    from azureml.exceptions import ModelNotFoundException

    assert Model.get_model_path("m") == str(tmp_path / "model")
    with pytest.raises(ModelNotFoundException, match=r"'nope'.*local models: m.*--model NAME=PATH"):
        Model.get_model_path("nope")


def test_datasets_read_download_and_mount(local: stubs.Platform, tmp_path: Path) -> None:
    from azureml.core import Dataset
    from azureml.data import FileDataset, TabularDataset
    from azureml.exceptions import UserErrorException

    people = Dataset.get_by_name(None, "people")
    assert isinstance(people, TabularDataset)
    assert people.to_pandas_dataframe()["name"].tolist() == ["ada", "bob"]
    images = Dataset.get_by_name(None, "images")
    assert isinstance(images, FileDataset)
    copied = images.download(str(tmp_path / "dl"))
    assert sorted(Path(p).relative_to(tmp_path / "dl").as_posix() for p in copied) == ["a.png", "sub/b.png"]
    with pytest.raises(UserErrorException, match="already exists"):
        images.download(str(tmp_path / "dl"))
    with images.mount() as mounted:
        assert (Path(mounted.mount_point) / "sub" / "b.png").read_bytes() == b"png-b"
    assert images.as_named_input("imgs").as_mount().mode == "mount"
    with pytest.raises(UserErrorException, match="Cannot find dataset registered with name 'missing'"):
        Dataset.get_by_name(None, "missing")


def test_monitoring_handler_writes_locally_and_keeps_no_connection_string(
    local: stubs.Platform, tmp_path: Path
) -> None:
    from opencensus.ext.azure.log_exporter import AzureLogHandler

    secret = "InstrumentationKey=1234-do-not-store"
    handler = AzureLogHandler(connection_string=secret)
    handler.add_telemetry_processor(lambda envelope: "drop me" not in envelope.data["message"])
    logger = logging.getLogger("test_stubs.monitoring")
    logger.addHandler(handler)
    try:
        logger.warning("scored %d rows", 5, extra={"custom_dimensions": {"batch": 7}})
        logger.warning("drop me")
    finally:
        logger.removeHandler(handler)
    assert PlatformLog.read(tmp_path / "logs" / PLATFORM_LOG) == [
        {
            "kind": "trace",
            "name": "test_stubs.monitoring",
            "value": {"level": "WARNING", "message": "scored 5 rows", "custom_dimensions": {"batch": 7}},
        },
    ]
    assert secret not in repr(vars(handler))
    assert all(secret.encode() not in p.read_bytes() for p in (tmp_path / "logs").rglob("*") if p.is_file())


def test_entry_script_logs_to_the_log_folder(local: stubs.Platform, tmp_path: Path) -> None:
    from azureml_user.parallel_run import EntryScript

    script = EntryScript()
    script.logger.info("init done")
    for handler in script.logger.handlers:
        handler.flush()
    assert script.log_dir == str(tmp_path / "logs") and script.working_dir == str(tmp_path)
    assert script.output_dir == str(tmp_path / "outputs")
    assert "init done" in (tmp_path / "logs" / "entry_script.log.txt").read_text()


def test_a_replay_whose_capture_has_no_run_context_gets_an_offline_one(tmp_path: Path) -> None:
    from replay.store import LocalStore

    player = boundaries.start_replaying([], LocalStore(tmp_path / "store"), trust=False, workdir=tmp_path)
    stubs.install("replay", log_dir=tmp_path / "logs")
    from azureml.core import Model, Run

    assert Run.get_context().id.startswith("OfflineRun_")
    assert player.served[-1]["fallback"] is True
    with pytest.raises(
        boundaries.UnrecordedCall, match=r"azureml:Model.get_model_path\(model_name='m', version=None\)"
    ):
        Model.get_model_path("m")


def test_a_real_sdk_wins_in_local_mode_and_loses_in_replay_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    for rel in (
        "azureml/__init__.py",
        "azureml/core/__init__.py",
        "opencensus/__init__.py",
        "opencensus/trace.py",
        "opencensus/ext/__init__.py",
        "opencensus/ext/azure/__init__.py",
        "opencensus/ext/azure/log_exporter.py",
    ):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        stubs.install("local", log_dir=tmp_path / "logs")
        import azureml.core
        import opencensus.ext.azure.log_exporter

        assert "REAL" in vars(azureml.core) and "REAL" in vars(opencensus.ext.azure.log_exporter)
        real_exporter = opencensus.ext.azure.log_exporter
        stubs.install("replay", log_dir=tmp_path / "logs")
        assert "azureml.core" not in sys.modules
        import azureml.core as served
        import opencensus.trace
        from opencensus.ext.azure import log_exporter

        assert "REAL" not in vars(served) and "Run" in vars(served)
        assert "REAL" not in vars(log_exporter) and "REAL" in vars(opencensus.trace)
        stubs.uninstall()
        assert sys.modules["azureml.core"] is azureml.core  # the displaced real modules are back
        assert opencensus.ext.azure.log_exporter is real_exporter
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in ("azureml", "opencensus")]:
            del sys.modules[name]
