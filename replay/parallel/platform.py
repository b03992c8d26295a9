"""The platform modules a worker's entry script imports, from the shared stubs.

Batch-inference entry scripts import `azureml.core` (`Model`, `Run`) and
`azureml_user.parallel_run` (`EntryScript`). Workers serve them with the same fakes
`replay run` uses (`replay.stubs`, local mode), so a script sees one set of platform
objects whether it runs in the local runner or in a replay of one of its mini-batches.
Real modules win in local mode: where the SDK is installed it is used as it is.

Installing replaces any earlier install, because a Dask worker process may run several
jobs one after another, each with its own models and log folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

MetricsSink = Callable[[dict[str, Any]], None]
"""Receives each `{"kind", "name", "value"}` entry the script logs to its run."""

METRIC_KINDS = frozenset({"metric", "list", "row", "table"})
"""What `Run.log`, `log_list`, `log_row` and `log_table` send; tags, uploads and
statuses stay in the platform log only."""


def model_paths(models: Mapping[str, str]) -> dict[str, str]:
    """`--model` entries as `Model.get_model_path` resolves them.

    `NAME:VERSION=PATH` also answers a call without a version, as the platform returns
    the latest version then; the highest version given wins, and an explicit
    unversioned `NAME=PATH` wins over all of them.
    """
    latest: dict[str, tuple[tuple[int, int | str], str]] = {}
    for key, path in models.items():
        name, sep, version = key.partition(":")
        if sep:
            rank = (1, int(version)) if version.isdigit() else (0, version)
            if name not in latest or rank > latest[name][0]:  # type: ignore[operator]
                latest[name] = (rank, path)
    resolved = {name: path for name, (_, path) in latest.items()}
    resolved.update(models)
    return resolved


def install_platform(
    models: Mapping[str, str],
    log_dir: Path,
    output_dir: Path,
    working_dir: Path,
    logging_level: int,
    metrics_sink: MetricsSink | None,
) -> None:
    """Serve the platform fakes to this worker process.

    `models` maps `NAME` or `NAME:VERSION` to a local path; `log_dir` receives the entry
    script logger's file and the platform log; `output_dir` and `working_dir` are
    `EntryScript().output_dir` and `.working_dir`; `metrics_sink` receives what the
    script logs to its run (see `METRIC_KINDS`).
    """
    from replay import stubs

    def forward(entry: dict[str, Any]) -> None:
        if entry["kind"] in METRIC_KINDS:
            metrics_sink(entry)  # type: ignore[misc]

    working_dir.mkdir(parents=True, exist_ok=True)
    platform = stubs.install(
        "local", log_dir=log_dir, output_dir=output_dir, working_dir=working_dir,
        local=stubs.LocalSource(models=model_paths(models)),
        sink=forward if metrics_sink is not None else None,
    )
    logger: logging.Logger = platform.entry_script_logger()
    logger.setLevel(logging_level)  # the job's logging_level, not the stubs' default
