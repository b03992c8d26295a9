"""The fake run context: `Run.get_context()` and what a step does with its run.

The run's identity (id, experiment, parent, tags, input datasets) comes through the
`Run.get_context` boundary: recorded facts at replay, a generated offline run in local
mode. What the step sends to the run (metrics, tables, images, tags, uploads, status)
goes to the platform log, and uploaded files to the log folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import IO, Any

from replay.boundaries import call
from replay.stubs.data import dataset_from_facts
from replay.stubs.facts import RUN_CONTEXT, RunFacts, no_key
from replay.stubs.local import LocalSource
from replay.stubs.platform import Platform, current
from replay.stubs.service import ServiceObject, Workspace


class Experiment(ServiceObject):
    name: str | None
    workspace: Workspace

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


class Run(ServiceObject):
    """The subset of the SDK's `Run` a step uses inside a job."""

    id: str
    experiment: Experiment
    parent: Run | None
    _facts: RunFacts
    _tags: dict[str, str]
    _status: str
    _platform: Platform
    _kind_prefix: str
    """'' for the step's own run, 'parent.' for its parent, in platform log kinds."""

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> Run:
        # A replay whose capture never asked for the run (the fixed step goes further than the
        # failed one did) gets a fresh offline run: it carries no upstream data.
        facts = call(
            RUN_CONTEXT,
            lambda: current().source().run_facts(),
            no_key,
            fallback=lambda: LocalSource().run_facts(),
        )
        return cls._of(facts, current())

    @classmethod
    def _of(cls, facts: RunFacts, platform: Platform, kind_prefix: str = "") -> Run:
        """One object per run id, so tags set through one `get_context()` show in the next."""
        run_id = str(facts.get("id") or "")
        if run_id not in platform.runs:
            workspace = Workspace._make(name=facts.get("workspace"))
            experiment = Experiment._make(name=facts.get("experiment"), workspace=workspace)
            parent_id = facts.get("parent")
            parent_facts = {
                "id": parent_id,
                "experiment": facts.get("experiment"),
                "workspace": facts.get("workspace"),
            }
            platform.runs[run_id] = cls._make(
                id=run_id,
                experiment=experiment,
                parent=cls._of(parent_facts, platform, "parent.") if parent_id else None,
                _facts=facts,
                _tags=dict(facts.get("tags") or {}),
                _status="Running",
                _platform=platform,
                _kind_prefix=kind_prefix,
            )
        run: Run = platform.runs[run_id]
        return run

    def __repr__(self) -> str:
        return f"Run(experiment={self.experiment.name!r}, id={self.id!r})"

    @property
    def display_name(self) -> str:
        return self.id

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._tags)

    @property
    def input_datasets(self) -> dict[str, Any]:
        """Mounted or downloaded inputs as local paths; direct inputs as datasets."""
        found: dict[str, Any] = {}
        for name, entry in (self._facts.get("input_datasets") or {}).items():
            if "path" in entry:
                found[name] = self._platform.local_path(str(entry["path"]))
            else:
                found[name] = dataset_from_facts(entry["dataset"])
        return found

    # -- what the step sends to the run ------------------------------------------------------
    def _record(self, kind: str, name: str, value: object) -> None:
        self._platform.log.add(self._kind_prefix + kind, name, value)

    def log(self, name: str, value: object, description: str = "", step: int | None = None) -> None:
        self._record("metric", name, value)

    def log_list(self, name: str, value: object, description: str = "") -> None:
        self._record("list", name, value)

    def log_row(self, name: str, description: str | None = None, **kwargs: object) -> None:
        self._record("row", name, kwargs)

    def log_table(self, name: str, value: object, description: str = "") -> None:
        self._record("table", name, value)

    def log_confusion_matrix(self, name: str, value: object, description: str = "") -> None:
        self._record("confusion_matrix", name, value)

    def log_image(self, name: str, path: str | None = None, plot: Any = None, description: str = "") -> None:
        """Keep the image (a file, or a matplotlib figure) under the log folder's `images/`."""
        target = self._place("images", os.path.basename(path) if path else f"{name}.png")
        if plot is not None:
            plot.savefig(target)
        elif path is not None:
            shutil.copyfile(path, target)
        self._record("image", name, self._relative(target))

    def tag(self, key: str, value: str | None = None) -> None:
        self._tags[key] = "" if value is None else str(value)
        self._record("tag", key, self._tags[key])

    def set_tags(self, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.tag(key, value)

    def get_tags(self) -> dict[str, str]:
        return dict(self._tags)

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        """Metrics logged through this run so far: one value, or the list of a repeated name."""
        logged: dict[str, list[Any]] = {}
        for entry in self._platform.log.entries:
            if entry["kind"] == self._kind_prefix + "metric" and name in (None, entry["name"]):
                logged.setdefault(entry["name"], []).append(entry["value"])
        return {k: v[0] if len(v) == 1 else v for k, v in logged.items()}

    def upload_file(
        self, name: str, path_or_stream: str | IO[bytes], datastore_name: str | None = None
    ) -> None:
        """Keep the file under the log folder's `uploads/` (as the run's outputs would be)."""
        target = self._place("uploads", name)
        if isinstance(path_or_stream, (str, Path)):
            shutil.copyfile(path_or_stream, target)
        else:
            with open(target, "wb") as out:
                shutil.copyfileobj(path_or_stream, out)
        self._record("upload", name, self._relative(target))

    def upload_folder(self, name: str, path: str, datastore_name: str | None = None) -> None:
        for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
            self.upload_file(f"{name}/{file.relative_to(path).as_posix()}", str(file))

    def flush(self, timeout_seconds: int = 300) -> None:
        """Nothing is buffered: every entry is written as it is made."""

    def complete(self, _set_status: bool = True) -> None:
        self._set_status("Completed")

    def fail(
        self, error_details: object = None, error_code: str | None = None, _set_status: bool = True
    ) -> None:
        self._set_status("Failed")

    def get_status(self) -> str:
        return self._status

    def _set_status(self, status: str) -> None:
        self._status = status
        self._record("status", self.id, status)

    def _relative(self, path: Path) -> str:
        """Paths in the platform log are relative to the log folder, so a capture's log and
        its replay's log compare equal."""
        return path.relative_to(self._platform.log_dir).as_posix()

    def _place(self, folder: str, name: str) -> Path:
        """A file for `name` under the log folder, confined there whatever `name` holds."""
        parts = [p for p in PurePosixPath(str(name).replace("\\", "/")).parts if p not in ("/", "..", ".")]
        target = self._platform.log_dir.joinpath(folder, *(parts or ["unnamed"]))
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
