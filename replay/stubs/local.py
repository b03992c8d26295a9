"""Answers of the platform fakes in local mode: models and datasets from local paths.

The local batch runner (`replay parallel run --model NAME=PATH`) and the tests use it in
place of the cloud service. Its answers pass through the same boundaries as the real
SDK's, so a local run that fails is captured and replayed like a cloud one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replay.stubs.facts import DatasetFacts, RunFacts
from replay.stubs.service import AzureMLException, UserErrorException

TABULAR_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl")


class ModelNotFoundException(AzureMLException):
    """Raised like the SDK's when a model name is unknown."""


class LocalSource:
    """Models and datasets by name, and the facts of one offline run.

    `models` maps a name (or `name:version`) to a file or folder. `datasets` maps a
    tabular dataset's name to a DataFrame, a tabular file (csv, tsv, parquet, jsonl) or
    a folder of them; `file_datasets` maps a file dataset's name to a file or folder.
    `input_datasets` maps the names the step reads from `run.input_datasets` to local
    paths (the mounted or downloaded form).
    """

    def __init__(
        self,
        *,
        models: Mapping[str, str | os.PathLike[str]] | None = None,
        datasets: Mapping[str, object] | None = None,
        file_datasets: Mapping[str, str | os.PathLike[str]] | None = None,
        input_datasets: Mapping[str, str | os.PathLike[str]] | None = None,
        run_id: str | None = None,
        experiment: str = "local",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.models = {k: os.path.abspath(v) for k, v in (models or {}).items()}
        self.datasets = {k: v if _is_frame(v) else _absolute(v) for k, v in (datasets or {}).items()}
        self.file_datasets = {k: os.path.abspath(v) for k, v in (file_datasets or {}).items()}
        self.input_datasets = {k: os.path.abspath(v) for k, v in (input_datasets or {}).items()}
        self.run_id = run_id or _offline_run_id()
        self.experiment = experiment
        self.tags = dict(tags or {})

    def run_facts(self) -> RunFacts:
        return {
            "id": self.run_id,
            "experiment": self.experiment,
            "workspace": None,
            "parent": None,
            "tags": dict(self.tags),
            "input_datasets": {k: {"path": v} for k, v in self.input_datasets.items()},
            "offline": self.run_id.startswith("OfflineRun"),
        }

    def model_path(self, model_name: str, version: object = None) -> str:
        path = self.models.get(f"{model_name}:{version}") or self.models.get(model_name)
        if path is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFoundException(
                f"Model {model_name!r} (version {version}) not found; "
                f"local models: {known} (give --model NAME=PATH)"
            )
        return path

    def dataset_facts(self, name: str, version: object = "latest") -> DatasetFacts:
        kind = "tabular" if name in self.datasets else "file" if name in self.file_datasets else None
        if kind is None:
            known = ", ".join(sorted([*self.datasets, *self.file_datasets])) or "none"
            raise UserErrorException(
                f"Cannot find dataset registered with name {name!r} (version: {version}); "
                f"local datasets: {known}"
            )
        return {"name": name, "version": 1, "id": f"local-{name}", "kind": kind}

    def dataset_by_id(self, dataset_id: str) -> DatasetFacts:
        for name in [*self.datasets, *self.file_datasets]:
            if f"local-{name}" == dataset_id:
                return self.dataset_facts(name)
        raise UserErrorException(f"Cannot find dataset with id {dataset_id!r}")

    def to_pandas(self, facts: DatasetFacts) -> Any:
        source = self._lookup(self.datasets, facts)
        if _is_frame(source):
            return source.copy()  # type: ignore[attr-defined]
        import pandas

        path = Path(source)  # type: ignore[arg-type]
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in TABULAR_SUFFIXES) if path.is_dir() else [path]
        )
        frames = [_read_table(p) for p in files]
        if not frames:
            raise UserErrorException(f"dataset {facts.get('name')!r}: no tabular files under {path}")
        return frames[0] if len(frames) == 1 else pandas.concat(frames, ignore_index=True)

    def files(self, facts: DatasetFacts) -> str:
        return str(self._lookup(self.file_datasets, facts))

    @staticmethod
    def _lookup(table: Mapping[str, object], facts: DatasetFacts) -> object:
        name = str(facts.get("name"))
        if name not in table:
            raise UserErrorException(
                f"Cannot find dataset {name!r} among the local {facts.get('kind')} datasets"
            )
        return table[name]


def _offline_run_id() -> str:
    """An id shaped like the SDK's offline runs, which steps test for (`startswith("OfflineRun")`)."""
    import uuid

    return f"OfflineRun_{uuid.uuid4()}"


def _absolute(path: object) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"a local dataset is a DataFrame or a path, not {type(path).__name__}")
    return os.path.abspath(path)


def _is_frame(value: object) -> bool:
    return type(value).__module__.startswith("pandas") and hasattr(value, "to_parquet")


def _read_table(path: Path) -> Any:
    import pandas

    if path.suffix == ".parquet":
        return pandas.read_parquet(path)
    if path.suffix == ".jsonl":
        return pandas.read_json(path, lines=True)
    return pandas.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
