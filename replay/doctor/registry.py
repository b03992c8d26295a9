"""The one place rules are registered.

A rule is a pure function from a `Context` (the capture, its store, the local
environment) to findings, declared with the codes it may emit:

    @rule("output-dir-missing")
    def check(ctx: Context) -> Iterator[Finding]: ...

Each rule lives in its own module under `replay.doctor.rules`; `all_rules()` imports
every module there, so adding a rule is adding one file (and its tests) and nothing
else. Declaring the codes up front keeps them stable and lets a test list them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replay.doctor.context import Context
    from replay.doctor.finding import Finding

Check = Callable[["Context"], Iterable["Finding"]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: where it lives, the codes it may emit, and its check."""

    name: str
    codes: tuple[str, ...]
    check: Check


_RULES: dict[str, Rule] = {}
_LOADED = False


def rule(*codes: str) -> Callable[[Check], Check]:
    """Register `check` as a rule that emits findings with these `codes`."""
    if not codes:
        raise ValueError("a rule must declare the finding codes it emits")

    def register(check: Check) -> Check:
        name = f"{check.__module__}.{check.__qualname__}"
        taken = {code: r.name for r in _RULES.values() for code in r.codes if r.name != name}
        for code in codes:
            if code in taken:
                raise ValueError(f"finding code {code!r} of {name} is already used by {taken[code]}")
        _RULES[name] = Rule(name, tuple(codes), check)
        return check

    return register


def all_rules() -> list[Rule]:
    """Every rule, in a stable order; the rule modules are imported on first use."""
    global _LOADED
    if not _LOADED:
        from replay.doctor import rules

        for module in pkgutil.iter_modules(rules.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{rules.__name__}.{module.name}")
        _LOADED = True
    return [_RULES[name] for name in sorted(_RULES)]
