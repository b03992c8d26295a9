"""Fake datasets: found by name or id, read as a DataFrame, downloaded or mounted.

Finding a dataset records its facts; reading it records its content (a DataFrame as
parquet, a file dataset's files as a folder). At replay the content comes back from the
capture: `download` copies the rebuilt files to the target the step asks for, `mount`
hands out the rebuilt folder. Creating or registering datasets needs the service.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from replay.boundaries import call
from replay.boundaries.snapshot import files_under
from replay.stubs.facts import (
    DATASET_BY_ID,
    DATASET_BY_NAME,
    DATASET_FILES,
    TO_PANDAS,
    DatasetFacts,
    dataset_facts,
    dataset_id_key,
    dataset_key,
    dataset_name_key,
)
from replay.stubs.platform import current
from replay.stubs.service import ServiceObject, UserErrorException


class _AbstractDataset(ServiceObject):
    name: str | None
    version: int | None
    id: str | None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig._make(name=name, dataset=self, mode="direct", path_on_compute=None)


class TabularDataset(_AbstractDataset):
    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        return call(TO_PANDAS, lambda: current().source().to_pandas(dataset_facts(self)), lambda: dataset_key(self))


class FileDataset(_AbstractDataset):
    def _files(self) -> Path:
        """The dataset's files as one local file or folder (rebuilt from the capture at replay)."""
        return Path(
            call(DATASET_FILES, lambda: current().source().files(dataset_facts(self)), lambda: dataset_key(self))
        )

    def download(
        self, target_path: str | None = None, overwrite: bool = False, ignore_not_found: bool = False
    ) -> list[str]:
        """Copy the files under `target_path` (a new temporary folder when None); like
        the SDK, refuse to replace existing files unless `overwrite`."""
        source = self._files()
        target = (
            Path(target_path)
            if target_path
            else Path(tempfile.mkdtemp(prefix="dataset-", dir=current().working_dir))
        )
        files = [(source.name, source)] if source.is_file() else files_under(source)
        copied = []
        for rel, path in files:
            dest = target / rel
            if dest.exists() and not overwrite:
                raise UserErrorException(f"File {dest} already exists; pass overwrite=True to replace it")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            copied.append(str(dest))
        return copied

    def mount(self, mount_point: str | None = None, **kwargs: Any) -> MountContext:
        return MountContext._make(dataset=self, requested=mount_point, mount_point=mount_point)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input(self.name or "input").as_mount(path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input(self.name or "input").as_download(path_on_compute)

    def to_path(self) -> list[str]:
        source = self._files()
        return ["/" + source.name] if source.is_file() else ["/" + rel for rel, _ in files_under(source)]


class MountContext(ServiceObject):
    """`with ds.mount() as ctx: ctx.mount_point` — the rebuilt folder, or a copy at the
    requested mount point."""

    dataset: FileDataset
    requested: str | None
    mount_point: str | None

    def start(self) -> None:
        if self.requested:
            self.dataset.download(self.requested, overwrite=True)
            self.mount_point = self.requested
        else:
            source = self.dataset._files()
            self.mount_point = str(source if source.is_dir() else source.parent)

    def stop(self) -> None:
        """Nothing to unmount: the files are ordinary local files."""

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DatasetConsumptionConfig(ServiceObject):
    """How a pipeline hands a dataset to a step; inside a step only its fields are read."""

    name: str
    dataset: _AbstractDataset
    mode: str
    path_on_compute: str | None

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig._make(
            name=self.name, dataset=self.dataset, mode="mount", path_on_compute=path_on_compute
        )

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig._make(
            name=self.name, dataset=self.dataset, mode="download", path_on_compute=path_on_compute
        )


class Dataset(ServiceObject):
    """`Dataset.get_by_name` / `get_by_id`; the `Tabular`/`File` factories need the service."""

    @staticmethod
    def get_by_name(workspace: object, name: str, version: object = "latest") -> _AbstractDataset:
        facts = call(
            DATASET_BY_NAME,
            lambda: current().source().dataset_facts(name, version),
            lambda: dataset_name_key(workspace, name, version),
        )
        return dataset_from_facts(facts)

    @staticmethod
    def get_by_id(workspace: object, id: str) -> _AbstractDataset:
        facts = call(
            DATASET_BY_ID, lambda: current().source().dataset_by_id(id), lambda: dataset_id_key(workspace, id)
        )
        return dataset_from_facts(facts)


def dataset_from_facts(facts: DatasetFacts) -> _AbstractDataset:
    kind = TabularDataset if facts.get("kind") == "tabular" else FileDataset
    return kind._make(name=facts.get("name"), version=facts.get("version"), id=facts.get("id"))
