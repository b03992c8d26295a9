"""Helpers for the doctor tests: capture a really failing step, then diagnose it.

Every capture the doctor tests diagnose is produced by running a step under the real
`replay capture`; nothing here builds a manifest by hand.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from replay.bundle import Manifest
from replay.doctor import Finding, diagnose
from replay.store import LocalStore
from tests.conftest import run_replay

CAPTURED = re.compile(r"replay: captured ([0-9a-f]{12}) ")


def capture(cmd: list[str], env: dict[str, str], cwd: Path, options: tuple[str, ...] = ()) -> Manifest:
    """Run `replay capture [options] -- cmd` and load the capture it made (the one it
    reports, or with `--always` on a passing step, which reports nothing, the newest)."""
    store = LocalStore(env["REPLAY_STORE"])
    before = set(store.ids())
    result = run_replay(["capture", *options, "--", *cmd], env, cwd=cwd)
    match = CAPTURED.search(result.stderr)
    made = [match.group(1)] if match else sorted(set(store.ids()) - before)
    assert len(made) == 1, f"no capture (exit {result.returncode}):\n{result.stderr[-3000:]}"
    return store.load(made[0])


@contextmanager
def _no_rule_failures() -> Iterator[None]:
    """A rule that breaks is logged and skipped in production; in tests it is a failure."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("replay.doctor")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not records, "\n".join(r.getMessage() for r in records)


def findings(manifest: Manifest, store_dir: Path | None = None) -> list[Finding]:
    with _no_rule_failures():
        return diagnose(manifest, LocalStore(store_dir) if store_dir else None)


def only(found: list[Finding], code: str) -> Finding:
    """The one finding with `code`."""
    matching = [f for f in found if f.code == code]
    assert len(matching) == 1, f"expected one {code}, got {[f.code for f in found]}"
    return matching[0]


def codes(found: list[Finding]) -> set[str]:
    return {f.code for f in found}
