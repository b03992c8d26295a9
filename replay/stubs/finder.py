"""Serving the fake SDK modules through a meta-path finder.

The finder answers for the module names in `FAKES` (and any module under a package it
serves, as a placeholder module), but only where the real import would fail, unless it
is forced. Forcing takes over the SDK's own packages and the monitoring handler's
module, never the rest of `opencensus` (a step's real tracing keeps working). Each fake
module is a fresh module object filled from the implementation modules of
`replay.stubs`, so `azureml.core.Run is azureml.core.run.Run`. Uninstalling removes the
fake modules and puts back any real module a forced install displaced.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from replay.boundaries.patching import find_elsewhere
from replay.stubs.service import placeholder

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

FAKES: dict[str, dict[str, str]] = {
    "azureml": {},
    "azureml.core": {
        "Run": "run:Run",
        "Experiment": "run:Experiment",
        "Model": "model:Model",
        "Dataset": "data:Dataset",
        "Workspace": "service:Workspace",
        "ComputeTarget": "service:ComputeTarget",
    },
    "azureml.core.run": {"Run": "run:Run"},
    "azureml.core.experiment": {"Experiment": "run:Experiment"},
    "azureml.core.model": {"Model": "model:Model"},
    "azureml.core.dataset": {"Dataset": "data:Dataset"},
    "azureml.core.workspace": {"Workspace": "service:Workspace"},
    "azureml.core.compute": {"ComputeTarget": "service:ComputeTarget"},
    "azureml.data": {"TabularDataset": "data:TabularDataset", "FileDataset": "data:FileDataset"},
    "azureml.data.tabular_dataset": {"TabularDataset": "data:TabularDataset"},
    "azureml.data.file_dataset": {"FileDataset": "data:FileDataset"},
    "azureml.data.dataset_consumption_config": {"DatasetConsumptionConfig": "data:DatasetConsumptionConfig"},
    "azureml.exceptions": {
        "AzureMLException": "service:AzureMLException",
        "UserErrorException": "service:UserErrorException",
        "ModelNotFoundException": "local:ModelNotFoundException",
    },
    "azureml_user": {},
    "azureml_user.parallel_run": {"EntryScript": "entry_script:EntryScript"},
    "opencensus": {},
    "opencensus.ext": {},
    "opencensus.ext.azure": {},
    "opencensus.ext.azure.log_exporter": {"AzureLogHandler": "log_handler:AzureLogHandler"},
}
OWNED_ROOTS = ("azureml", "azureml_user")
OWNED_MODULES = ("opencensus.ext.azure.log_exporter",)


def owned(name: str) -> bool:
    """Whether a forced install serves `name` even where the real module exists."""
    return name.split(".")[0] in OWNED_ROOTS or any(
        name == m or name.startswith(m + ".") for m in OWNED_MODULES
    )


class FakeFinder:
    """Meta-path finder and loader of the fake modules."""

    def __init__(self, force: bool) -> None:
        self.force = force
        self.displaced: dict[str, types.ModuleType] = {}

    def serves(self, fullname: str) -> bool:
        if fullname in FAKES:
            return True
        parent_name, _, child = fullname.rpartition(".")
        if child.startswith("_"):
            return False  # the SDK's internals: a step importing them gets ImportError
        parent = sys.modules.get(parent_name)
        return parent is not None and getattr(parent, "__loader__", None) is self

    def find_spec(
        self, fullname: str, path: Any, target: types.ModuleType | None = None
    ) -> ModuleSpec | None:
        if not self.serves(fullname):
            return None
        forced = self.force and owned(fullname)
        if not forced and find_elsewhere(self, fullname, path, target) is not None:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(fullname, self, is_package=True)  # type: ignore[arg-type]  # a Loader by protocol

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        namespace = vars(module)
        namespace["__path__"] = []  # every fake is a package, so unknown submodules become placeholders
        namespace["__replay_fake__"] = True  # never patched (see boundaries.patching)
        namespace["__getattr__"] = _placeholders_for(module.__name__)
        for name, where in FAKES.get(module.__name__, {}).items():
            implementation, _, attr = where.partition(":")
            namespace[name] = getattr(importlib.import_module(f"replay.stubs.{implementation}"), attr)

    def displace_real_modules(self) -> None:
        """Forced install: take real SDK modules already imported out of the way."""
        for name in list(sys.modules):
            if owned(name) and getattr(sys.modules[name], "__loader__", None) is not self:
                self.displaced[name] = sys.modules[name]
                _unbind(name)  # a real parent that stays must not hand out the real child

    def remove(self) -> None:
        """Drop every fake module (and its attribute on a real parent), restore the displaced."""
        for name in [n for n, m in sys.modules.items() if getattr(m, "__loader__", None) is self]:
            _unbind(name)
        for name, module in self.displaced.items():
            sys.modules[name] = module
            parent_name, _, child = name.rpartition(".")
            if parent_name in sys.modules:
                setattr(sys.modules[parent_name], child, module)
        self.displaced.clear()


def _unbind(name: str) -> None:
    """Take a module out of `sys.modules` and out of its parent, where imports bind it."""
    module = sys.modules.pop(name)
    parent_name, _, child = name.rpartition(".")
    parent = sys.modules.get(parent_name)
    if parent is not None and vars(parent).get(child) is module:
        delattr(parent, child)


def _placeholders_for(module_name: str) -> Any:
    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        if f"{module_name}.{name}" in FAKES:
            return importlib.import_module(f"{module_name}.{name}")
        made = placeholder(f"{module_name}.{name}")
        setattr(sys.modules[module_name], name, made)
        return made

    return __getattr__
