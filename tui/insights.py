"""The optional analyses the detail view shows: `replay doctor` and `replay env diff`.

They are separate parts of `replay` that may be missing from an installation (or still
being written), so they are looked up at run time, and the tabs say "not available"
instead of failing. Tests hand in fixed analyses, because drift depends on the
interpreter the tests run under.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replay.bundle import Manifest
    from replay.doctor import Finding
    from replay.envdiff import Drift
    from replay.store import LocalStore

Diagnose = Callable[["Manifest"], Sequence["Finding"]]
DriftOf = Callable[["Manifest"], Sequence["Drift"]]


@dataclass(frozen=True)
class Insights:
    diagnose: Diagnose | None = None
    """`replay.doctor.diagnose` bound to the store, or None when doctor is not available."""
    drift: DriftOf | None = None
    """`replay.envdiff.diff`, or None when env diff is not available."""

    @classmethod
    def discover(cls, store: LocalStore) -> Insights:
        """Whatever this installation of `replay` provides."""
        return cls(diagnose=_find_diagnose(store), drift=_find_drift())


def _find_diagnose(store: LocalStore) -> Diagnose | None:
    try:
        from replay.doctor import diagnose
    except ImportError:
        return None
    from replay.store import LocalStore

    def run(manifest: Manifest) -> Sequence[Finding]:
        # A fresh store per call: diagnose runs on a worker thread, and a store's SQLite
        # index is usable only by the thread that opened it.
        return diagnose(manifest, LocalStore(store.root))

    return run


def _find_drift() -> DriftOf | None:
    try:
        from replay.envdiff import diff
    except ImportError:
        return None
    return diff
