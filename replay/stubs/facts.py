"""What the platform boundaries record, shared by the real-SDK wrappers and the fakes.

A capture may be recorded through the real SDK (on the cloud) or through the fakes (a
local batch run), and is always replayed through the fakes. The boundary names and
argument keys below are the contract between those sides: both compute them here, so
a call recorded one way matches the same call replayed the other way. Live SDK objects
(a run, a dataset) are recorded as plain facts (ids, names, tags), never as objects.
"""

from __future__ import annotations

import os
from typing import Any

from replay.boundaries.keys import named_key

RUN_CONTEXT = "azureml:Run.get_context"
MODEL_PATH = "azureml:Model.get_model_path"
DATASET_BY_NAME = "azureml:Dataset.get_by_name"
DATASET_BY_ID = "azureml:Dataset.get_by_id"
TO_PANDAS = "azureml:TabularDataset.to_pandas_dataframe"
DATASET_FILES = "azureml:FileDataset.files"
"""The files of a file dataset, as one folder (or file) the replay rebuilds."""

RunFacts = dict[str, Any]
"""`{"id", "experiment", "workspace", "parent", "tags", "input_datasets", "offline"}`;
each input dataset is `{"path": str}` (mounted or downloaded) or `{"dataset": DatasetFacts}`."""
DatasetFacts = dict[str, Any]
"""`{"name", "version", "id", "kind"}` with kind `tabular` or `file`."""


def no_key(*args: object, **kwargs: object) -> str:
    """Key of `Run.get_context`: there is one run context, whatever the arguments."""
    return ""


def model_key(model_name: str, version: object = None, _workspace: object = None) -> str:
    return named_key({"model_name": model_name, "version": version})


def dataset_name_key(workspace: object, name: str, version: object = "latest") -> str:
    return named_key({"name": name, "version": version})


def dataset_id_key(workspace: object, id: str) -> str:
    return named_key({"id": id})


def dataset_key(dataset: object, *args: object, **kwargs: object) -> str:
    """Key of a dataset's content calls: its identity, whatever the options."""
    return named_key({k: getattr(dataset, k, None) for k in ("name", "version", "id")})


def dataset_facts(dataset: object) -> DatasetFacts:
    names = {c.__name__ for c in type(dataset).__mro__}
    return {
        "name": _attr(dataset, "name"),
        "version": _attr(dataset, "version"),
        "id": _attr(dataset, "id"),
        "kind": "tabular" if "TabularDataset" in names else "file",
    }


def run_facts(run: object) -> RunFacts:
    """Facts of a live SDK run (online or offline). Each fact is read defensively: an
    offline run refuses some of them, and recording must never fail the step."""
    experiment = _attr(run, "experiment", raw=True)
    parent = _attr(run, "parent", raw=True)
    tags = _call(run, "get_tags")
    inputs = _attr(run, "input_datasets", raw=True)
    run_id = str(_attr(run, "id") or "")
    return {
        "id": run_id,
        "experiment": _attr(experiment, "name"),
        "workspace": _attr(_attr(experiment, "workspace", raw=True), "name"),
        "parent": _attr(parent, "id"),
        "tags": {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        "input_datasets": {str(k): input_facts(v) for k, v in inputs.items()}
        if isinstance(inputs, dict)
        else {},
        "offline": run_id.startswith("OfflineRun"),
    }


def input_facts(value: object) -> dict[str, Any]:
    """An entry of `run.input_datasets`: a mounted/downloaded path, or a dataset."""
    if isinstance(value, (str, os.PathLike)):
        return {"path": os.fspath(value)}
    return {"dataset": dataset_facts(value)}


def files_root(downloaded: list[str]) -> str:
    """The folder `FileDataset.download` filled: what a replay's download copies from."""
    folders = [os.path.dirname(os.path.abspath(p)) for p in downloaded]
    return os.path.commonpath(folders) if folders else ""


def _attr(obj: object, name: str, raw: bool = False) -> Any:
    if obj is None:
        return None
    try:
        value = getattr(obj, name)
    except Exception:
        return None
    return value if raw or value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _call(obj: object, name: str) -> Any:
    try:
        return getattr(obj, name)()
    except Exception:
        return None
