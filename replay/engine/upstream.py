"""Inside the replayed step's process: serve recorded upstream calls, install the
platform stand-ins, and collect what the step sent to the platform."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Upstream:
    """Where the platform stand-ins log what the step sent them. A plain class: the
    harness would pay 15 ms for `dataclasses` (and `inspect`) on every replay."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path

    def platform_log(self) -> list[dict[str, Any]]:
        from replay.stubs import PlatformLog

        return PlatformLog.read(self.log_path)


def install_upstream(spec: dict[str, Any]) -> Upstream:
    from replay import boundaries, stubs

    work = Path(spec["workdir"])
    path_map: dict[str, str] = spec["path_map"]
    calls: list[dict[str, Any]] = spec["upstream"]  # validated plain data, from the parent
    store = None
    if calls:
        from replay.store import LocalStore

        store = LocalStore(spec["store"])
    boundaries.start_replaying(
        calls, store, trust=spec["trust"], workdir=work / "upstream", path_map=path_map,  # type: ignore[arg-type]
        config_from=spec["target"] if spec["mode"] == "script" else spec["cwd"],
    )
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stubs.install("replay", log_dir=logs, output_dir=work / "outputs", working_dir=Path(spec["cwd"]),
                  path_map=path_map)
    return Upstream(logs / stubs.PLATFORM_LOG)
