"""THE SEAM: minimal stand-ins for the platform modules entry scripts import.

Batch-inference entry scripts import `azureml.core` (`Model`, `Run`) and
`azureml_user.parallel_run` (`EntryScript`). The shared stubs in `replay/stubs/` will
provide full stand-ins for `replay run` and the parallel runner alike; until then this
module installs just enough for a worker to run those scripts. Everything the runner
needs from the platform goes through the single function `install_platform()`: swap its
body for a call into the shared stubs and nothing else changes.

Real modules always win: if `azureml.core` or `azureml_user` can be imported, they are
left alone.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

MetricsSink = Callable[[str, Any], None]


class ModelNotFoundError(Exception):
    """`Model.get_model_path(name)` for a name given no `--model NAME=PATH`."""


def _absent(module: str) -> bool:
    """True when `module` is not importable, or is a stand-in installed here before.

    A Dask worker process may run several jobs one after another; each install must
    replace the previous job's stand-ins (other models, other log folder).
    """
    if module in sys.modules:
        return bool(getattr(sys.modules[module], "__replay_stub__", False))
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def _module(name: str, package: bool = False, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    if package:
        mod.__path__ = []  # type: ignore[attr-defined]
    mod.__replay_stub__ = True  # type: ignore[attr-defined]
    sys.modules[name] = mod
    return mod


def install_platform(
    models: dict[str, str],
    log_dir: Path,
    output_dir: Path,
    metrics_sink: MetricsSink | None,
) -> None:
    """Install fake `azureml.core` and `azureml_user.parallel_run` unless real ones exist.

    `models` maps `NAME` or `NAME:VERSION` to a local path; `log_dir` receives the entry
    script logger's file; `output_dir` is `EntryScript().output_dir`; `metrics_sink`
    receives every `Run.get_context().log(name, value)`.
    """
    log_dir = Path(log_dir)
    output_dir = Path(output_dir)

    class Model:
        """Stand-in for `azureml.core.Model`: paths come from `--model NAME=PATH`."""

        def __init__(self, workspace: Any = None, name: str | None = None, version: Any = None, **_: Any):
            self.name = name
            self.version = version

        @staticmethod
        def get_model_path(model_name: str, version: Any = None, _workspace: Any = None) -> str:
            keys = [f"{model_name}:{version}"] if version is not None else []
            keys.append(model_name)
            keys.extend(sorted(k for k in models if k.split(":", 1)[0] == model_name))
            for key in keys:
                if key in models:
                    return models[key]
            known = ", ".join(sorted(models)) or "none"
            raise ModelNotFoundError(
                f"model {model_name!r} is not known locally (known: {known}); "
                f"pass --model {model_name}=PATH"
            )

        @property
        def path(self) -> str:
            return self.get_model_path(str(self.name), self.version)

    class Run:
        """Stand-in for `azureml.core.Run`: `get_context()` collects metrics."""

        _current: Run | None = None

        def __init__(self) -> None:
            self.id = f"replay-local-{os.getpid()}"
            self._metrics: dict[str, list[Any]] = {}
            self._tags: dict[str, str] = {}

        @classmethod
        def get_context(cls, allow_offline: bool = True, **_: Any) -> Run:
            if cls._current is None:
                cls._current = cls()
            return cls._current

        def log(self, name: str, value: Any, description: str = "", step: Any = None) -> None:
            self._metrics.setdefault(name, []).append(value)
            if metrics_sink is not None:
                metrics_sink(name, value)

        def log_list(self, name: str, value: list[Any], description: str = "") -> None:
            self.log(name, list(value), description)

        def log_row(self, name: str, description: str = "", **kwargs: Any) -> None:
            self.log(name, dict(kwargs), description)

        def log_table(self, name: str, value: dict[str, Any], description: str = "") -> None:
            self.log(name, dict(value), description)

        def tag(self, key: str, value: Any = None) -> None:
            self._tags[key] = "" if value is None else str(value)

        def set_tags(self, tags: dict[str, Any]) -> None:
            for key, value in tags.items():
                self.tag(key, value)

        def get_tags(self) -> dict[str, str]:
            return dict(self._tags)

        def get_metrics(self, name: str | None = None) -> dict[str, Any]:
            metrics = {k: (v[0] if len(v) == 1 else list(v)) for k, v in self._metrics.items()}
            return {name: metrics[name]} if name is not None and name in metrics else metrics

        def complete(self) -> None:
            pass

    class EntryScript:
        """Stand-in for `azureml_user.parallel_run.EntryScript`: logger and folders."""

        _logger: logging.Logger | None = None

        @property
        def logger(self) -> logging.Logger:
            cls = type(self)
            if cls._logger is None:
                log_dir.mkdir(parents=True, exist_ok=True)
                logger = logging.getLogger("azureml_user.parallel_run.entry_script")
                for old in list(logger.handlers):
                    logger.removeHandler(old)
                    old.close()
                handler = logging.FileHandler(log_dir / "entry_script.log.txt", encoding="utf-8")
                handler.setFormatter(
                    logging.Formatter("%(asctime)s|%(levelname)s|%(process)d|%(message)s")
                )
                logger.addHandler(handler)
                logger.propagate = False
                logger.setLevel(logging.getLogger().level or logging.INFO)
                cls._logger = logger
            return cls._logger

        @property
        def log_dir(self) -> str:
            return str(log_dir)

        @property
        def output_dir(self) -> str:
            output_dir.mkdir(parents=True, exist_ok=True)
            return str(output_dir)

        @property
        def working_dir(self) -> str:
            folder = Path(tempfile.gettempdir()) / "replay-parallel-working" / str(os.getpid())
            folder.mkdir(parents=True, exist_ok=True)
            return str(folder)

    if _absent("azureml.core"):
        azureml = sys.modules.get("azureml") or _module("azureml", package=True)
        core = _module("azureml.core", package=True, Model=Model, Run=Run)
        _module("azureml.core.model", Model=Model)
        _module("azureml.core.run", Run=Run)
        azureml.core = core  # type: ignore[attr-defined]
        core.model = sys.modules["azureml.core.model"]  # type: ignore[attr-defined]
        core.run = sys.modules["azureml.core.run"]  # type: ignore[attr-defined]
    if _absent("azureml_user.parallel_run"):
        user = sys.modules.get("azureml_user") or _module("azureml_user", package=True)
        user.parallel_run = _module(  # type: ignore[attr-defined]
            "azureml_user.parallel_run", EntryScript=EntryScript
        )
