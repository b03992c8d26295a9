"""Stand-ins for the cloud ML platform's SDK (Azure ML SDK v1 names) during replay.

`install` serves fake `azureml.core`, `azureml.data`, `azureml_user.parallel_run` and
`opencensus.ext.azure.log_exporter` modules whose upstream answers (run context, model
paths, datasets) are boundaries: served from the capture in `replay` mode, from local
paths in `local` mode (and recorded there when a recorder is active). `watch_sdk` makes
the real SDK's entry points boundaries on the cloud. Importing this package loads only
the standard library; the fakes load when the step imports them.

Replay engine, in the step's process, after `boundaries.start_replaying(...)`::

    platform = stubs.install("replay", log_dir=work / "logs", output_dir=..., working_dir=...,
                             path_map=orig_to_local)
    ...                                   # the step runs
    PlatformLog.read(work / "logs" / PLATFORM_LOG)   # from the engine's process, afterwards

Capture agent, at start-up after `boundaries.start_recording(source_root)`:
`stubs.watch_sdk()`. Local batch runner: `stubs.install("local",
local=LocalSource(models=...), log_dir=..., output_dir=..., working_dir=..., sink=...)`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay.stubs.local import LocalSource
from replay.stubs.platform import PLATFORM_LOG, Mode, Platform, PlatformLog, set_current
from replay.stubs.sdk import watch_sdk
from replay.stubs.service import NotAvailable

if TYPE_CHECKING:
    from replay.stubs.finder import FakeFinder

__all__ = [
    "PLATFORM_LOG",
    "LocalSource",
    "NotAvailable",
    "Platform",
    "PlatformLog",
    "install",
    "uninstall",
    "watch_sdk",
]

_finder: FakeFinder | None = None


def install(
    mode: Mode,
    *,
    log_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str] | None = None,
    working_dir: str | os.PathLike[str] | None = None,
    local: LocalSource | None = None,
    path_map: Mapping[str, str] | None = None,
    force: bool | None = None,
    sink: Callable[[dict[str, Any]], None] | None = None,
) -> Platform:
    """Serve the fake SDK modules; returns the platform (its `log` collects metrics).

    `force` (default: True in `replay` mode, False in `local` mode) serves the fakes even
    where the real SDK is installed: a replay must never reach the service, and the
    real SDK reaches it from more places than could be wrapped. `path_map` maps original
    paths in recorded facts (mounted inputs) to local places. `output_dir` defaults to
    `log_dir/../outputs`, `working_dir` to the current folder. Replaces any earlier install.
    """
    from replay.stubs.finder import FakeFinder

    global _finder
    uninstall()
    log_path = Path(log_dir).absolute()
    platform = Platform(
        mode,
        log_dir=log_path,
        output_dir=Path(output_dir).absolute() if output_dir else log_path.parent / "outputs",
        working_dir=Path(working_dir or os.getcwd()).absolute(),
        local=(local or LocalSource()) if mode == "local" else None,
        path_map=path_map or {},
        sink=sink,
    )
    finder = FakeFinder(force=(mode == "replay") if force is None else force)
    if finder.force:
        finder.displace_real_modules()
    sys.meta_path.insert(0, finder)
    _finder = finder
    set_current(platform)
    return platform


def uninstall() -> None:
    """Remove the fakes and their modules, restoring what a forced install displaced."""
    global _finder
    if _finder is not None:
        sys.meta_path[:] = [f for f in sys.meta_path if f is not _finder]
        _finder.remove()
        _finder = None
    previous = set_current(None)
    if previous is not None:
        previous.close()
