"""Boundaries named in configuration: `"pkg.mod:func"` or `"pkg.mod:Class.method"`.

A named target is patched when its module is imported by the step, not at start-up:
importing user modules early would run their top-level code before the script set up
`sys.path` or its arguments, and a typo in the configuration would fail a job that was
only being watched. A module already imported is patched at once. Every patch is undone
by `unpatch_all()`, so tests and repeated replays start clean. Standard library only.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from replay.boundaries.core import Player, Recorder, active, wrap
from replay.errors import UsageError

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

PYPROJECT = "pyproject.toml"


class Target(NamedTuple):
    """One patch request: where the callable lives and how its boundary is keyed."""

    spec: str
    module: str
    attrs: tuple[str, ...]
    name: str
    ignore: tuple[str, ...] = ()
    key: Callable[..., str] | None = None
    record_as: Callable[[Any], object] | None = None
    strict: bool = True
    """False for names taken from a recording or an SDK whose version may differ: one that
    does not resolve is skipped (and noted at capture) instead of failing a replay."""

    @classmethod
    def parse(cls, spec: str, **options: Any) -> Target:
        module, sep, attrs = spec.partition(":")
        parts = tuple(attrs.split("."))
        if not sep or not all(p.isidentifier() for p in module.split(".") + list(parts)):
            raise UsageError(
                f"boundary {spec!r} is not of the form 'pkg.module:function' or 'pkg.module:Class.method'"
            )
        return cls(spec, module, parts, options.pop("name", None) or spec, **options)


class _Applied(NamedTuple):
    owner: Any
    attr: str
    had: bool
    original: Any


_pending: dict[str, list[Target]] = {}
"""Targets waiting for their module to be imported."""
_applied: list[_Applied] = []
_lock = threading.RLock()


def patch(spec: str, **options: Any) -> None:
    """Make the callable named by `spec` a boundary, now or when its module is imported.

    Options are those of `Target`: `name`, `ignore`, `key`, `record_as`, `strict`.
    Raises `UsageError` for a malformed spec. A spec naming nothing callable when its
    module loads is noted at capture, and raises `UsageError` at replay when strict.
    """
    target = Target.parse(spec, **options)
    with _lock:
        module = sys.modules.get(target.module)
        if module is not None:
            _apply(module, target)
            return
        _pending.setdefault(target.module, []).append(target)
        if not any(isinstance(f, _ImportWatcher) for f in sys.meta_path):
            sys.meta_path.insert(0, _ImportWatcher())


def patch_recorded(names: Iterable[str]) -> None:
    """Patch the recorded call names that are dotted names (`pkg.mod:func`), leniently.

    Names from `@boundary` are skipped at apply time (already boundaries), as are
    platform names (the fakes are boundaries), custom names that are not dotted, and
    `__main__` names (the script is not `__main__` yet when the replay starts).
    """
    for name in dict.fromkeys(names):
        if name.startswith("__main__:"):
            continue
        try:
            patch(name, strict=False)
        except UsageError:
            continue


def unpatch_all() -> None:
    """Restore every patched attribute and forget pending patches."""
    with _lock:
        for applied in reversed(_applied):
            if applied.had:
                setattr(applied.owner, applied.attr, applied.original)
            else:
                delattr(applied.owner, applied.attr)
        _applied.clear()
        _pending.clear()
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ImportWatcher)]


def _apply(module: types.ModuleType, target: Target) -> None:
    if getattr(module, "__replay_fake__", False):
        return  # the platform fakes are boundaries already
    owner: Any = module
    attr = target.attrs[-1]
    try:
        for part in target.attrs[:-1]:
            owner = getattr(owner, part)
        if isinstance(owner, type):
            # The raw attribute (staticmethod, classmethod) from the class that defines it.
            holder = next(k for k in owner.__mro__ if attr in k.__dict__)
            raw, had = holder.__dict__[attr], holder is owner
        else:
            raw, had = getattr(owner, attr), True
    except (AttributeError, StopIteration):
        _unresolved(target, f"boundary {target.spec!r}: {target.module} has no {'.'.join(target.attrs)}")
        return
    if getattr(raw, "__replay_boundary__", None) or getattr(
        getattr(raw, "__func__", None), "__replay_boundary__", None
    ):
        return  # patched already (a module imported twice under reload)

    def boundary_of(func: Callable[..., Any]) -> Callable[..., Any]:
        return wrap(func, target.name, target.ignore, target.key, target.record_as)

    if isinstance(raw, staticmethod):
        new: Any = staticmethod(boundary_of(raw.__func__))
    elif isinstance(raw, classmethod):
        new = classmethod(boundary_of(raw.__func__))
    elif callable(raw):
        new = boundary_of(raw)
    else:
        _unresolved(target, f"boundary {target.spec!r} names a {type(raw).__name__}, not a function")
        return
    setattr(owner, attr, new)
    _applied.append(_Applied(owner, attr, had, raw))


def _unresolved(target: Target, message: str) -> None:
    """A target that names nothing callable. This runs inside the step's own import, so
    at capture it becomes a note (the job must run as it would without us); at replay a
    strict target raises, since the replay cannot be faithful without it."""
    controller = active()
    if isinstance(controller, Recorder):
        controller.notes.append(message)
    elif target.strict and isinstance(controller, Player):
        raise UsageError(message)


class _ImportWatcher:
    """Finds a watched module with the other finders, then patches it once it has run."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self, fullname: str, path: Any, target: types.ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _pending or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            spec = find_elsewhere(self, fullname, path, target)
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _PatchingLoader(spec.loader)  # type: ignore[assignment]  # a Loader by protocol
        return spec


def find_elsewhere(
    skip: object, fullname: str, path: Any, target: types.ModuleType | None
) -> ModuleSpec | None:
    """The spec the rest of `sys.meta_path` would give, skipping `skip` and the watchers
    (the platform stubs use it to learn whether a real SDK module exists)."""
    for finder in list(sys.meta_path):
        if finder is skip or isinstance(finder, _ImportWatcher):
            continue
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        spec: ModuleSpec | None = find(fullname, path, target)
        if spec is not None:
            return spec
    return None


class _PatchingLoader:
    """Delegates to the real loader; after the module's code ran, applies its patches."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        with _lock:
            targets = _pending.pop(module.__name__, [])
            for target in targets:
                _apply(module, target)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... for tracebacks
        return getattr(self._loader, name)


# -- configuration ---------------------------------------------------------------------------
def configured(start: str | Path) -> tuple[Path | None, list[str]]:
    """The `[tool.replay] boundaries` of the first pyproject.toml from `start` upward."""
    folder = Path(start).resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        path = candidate / PYPROJECT
        if not path.is_file():
            continue
        import tomllib  # only when there is one to read: every replay looks

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{path}: cannot read [tool.replay]: {exc}") from None
        names = data.get("tool", {}).get("replay", {}).get("boundaries", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UsageError(
                f"{path}: [tool.replay] boundaries must be a list of 'pkg.module:function' strings"
            )
        return path, names
    return None, []


def patch_configured(script: str | Path) -> list[str]:
    """Patch the boundaries configured for the step whose script (or folder) is `script`."""
    _, names = configured(script)
    for spec in names:
        patch(spec)
    return names
