"""`replay doctor`: recognise known failure patterns in a capture and name their fixes.

    from replay.doctor import diagnose
    for finding in diagnose(store.load(capture_id), store):
        print(finding.code, finding.message, finding.fix)

Rules live one per module under `replay.doctor.rules` and are registered in
`replay.doctor.registry`; this façade runs them all. The CLI (`replay doctor`) and the
TUI both call `diagnose`, so they always agree.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from replay.doctor.finding import Finding

if TYPE_CHECKING:
    from replay.bundle import Manifest
    from replay.store import LocalStore

__all__ = ["Finding", "diagnose"]

log = logging.getLogger(__name__)


def diagnose(manifest: Manifest, store: LocalStore | None = None) -> list[Finding]:
    """Every finding for `manifest`, most severe and surest first.

    `store` gives rules the captured source files (declared requirements) and the other
    captures (steps sharing a source folder); without it those rules find nothing.
    A rule that breaks on a strange capture is reported on the `replay.doctor` logger
    and skipped, so one broken rule never hides the others' findings.
    """
    from replay.doctor.context import Context
    from replay.doctor.registry import all_rules

    ctx = Context(manifest, store)
    findings: list[Finding] = []
    for rule in all_rules():
        try:
            found = list(rule.check(ctx))
            stray = sorted({f.code for f in found} - set(rule.codes))
            if stray:
                raise ValueError(f"emitted undeclared code(s) {', '.join(stray)}")
        except Exception as exc:  # noqa: BLE001 - reported, and the other rules still run
            log.warning("doctor rule %s failed on capture %s: %s: %s",
                        rule.name, manifest.id, type(exc).__name__, exc, exc_info=True)
            continue
        findings.extend(found)
    return sorted(findings, key=Finding.sort_key)
