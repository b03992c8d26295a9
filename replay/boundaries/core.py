"""The boundary mechanism: every call across a boundary goes through `call()`.

One module-level controller decides what a call does:
- none (off): the call runs; nothing else happens. This is the cost on a job that is
  not being captured, so it is one global read.
- a `Recorder` (capture): the call runs; its name, argument key and a snapshot of its
  result or exception are appended to an in-memory log. Nothing is serialised until the
  capture is written (`Recorder.to_calls`), so a step that succeeds pays almost nothing.
- a `Player` (replay): the call does not run; the recorded result is served. The n-th
  call of a (name, key) gets the n-th recording of it (and the last one again when the
  fixed step calls more often than the failed one did); a (name, key) never recorded
  raises `UnrecordedCall`, naming the call and what was recorded under that name.

Boundaries called from inside another boundary are not recorded: at replay the outer
call does not run, so the inner one never happens. Standard library only at import time.
"""

from __future__ import annotations

import contextvars
import functools
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

from replay.boundaries import snapshot
from replay.errors import ReplayError, ReplaySetupError

if TYPE_CHECKING:
    from replay.boundaries.values import Budget
    from replay.bundle import BoundaryCall
    from replay.store import LocalStore

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
MAX_CALLS = 10_000
"""Calls recorded per capture; later ones still run, and are counted in `Recorder.dropped`."""

RecordedCall = Mapping[str, Any]
"""One recorded call as the replay reads it: a `bundle.BoundaryCall` as validated plain JSON
data in normal form (every field present), as `LocalStore.load_document` returns it."""

_controller: Recorder | Player | None = None
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("replay_boundary_inside", default=False)


class UnrecordedCall(ReplaySetupError):
    """The replayed step made a boundary call the capture has no result for."""


class _Entry(NamedTuple):
    seq: int
    name: str
    key: str
    result: object
    """A snapshot of the result (`snapshot.take`), or of the exception (`take_error`)."""


class Recorder:
    """Capture mode: calls run and are logged with a snapshot of their outcome."""

    def __init__(self, max_calls: int = MAX_CALLS) -> None:
        self.max_calls = max_calls
        self.dropped = 0
        self.notes: list[str] = []
        """For the manifest's notes: configured boundaries that did not resolve, and (after
        `to_calls`) results that could not be kept, and why."""
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()

    def through(
        self,
        name: str,
        run: Callable[[], T],
        key: Callable[[], str],
        record_as: Callable[[T], object] | None,
        fallback: Callable[[], T] | None,
    ) -> T:
        if _inside.get():
            return run()
        token = _inside.set(True)
        try:
            result = run()
        except Exception as exc:
            self._add(name, key, exc, None)
            raise
        finally:
            _inside.reset(token)
        self._add(name, key, result, record_as)
        return result

    def _add(
        self, name: str, key: Callable[[], str], outcome: Any, record_as: Callable[[Any], object] | None
    ) -> None:
        """Log one call. Never raises: recording must not change the step's outcome."""
        try:
            if isinstance(outcome, Exception):
                kept: object = snapshot.take_error(outcome)
            else:
                kept = snapshot.take(record_as(outcome) if record_as else outcome)
        except Exception as exc:  # a failing record_as is the recording's problem, not the step's
            kept = snapshot.NotKept(f"could not be recorded ({type(exc).__name__}: {str(exc)[:200]})")
        try:
            text = key()
        except Exception as exc:
            text = f"<key failed: {type(exc).__name__}>"
        with self._lock:
            if len(self._entries) >= self.max_calls:
                self.dropped += 1
                return
            self._entries.append(_Entry(len(self._entries), name, text, kept))

    def to_calls(self, store: LocalStore, budget: Budget) -> list[BoundaryCall]:
        """Serialise the log for the manifest; blobs go into `store`, charged to `budget`.

        Results that cannot be kept (over budget, unserialisable) are recorded as such
        and described in `self.notes`, so the replay can say why it cannot serve them.
        """
        from replay.boundaries.values import encode, not_kept
        from replay.bundle import BoundaryCall

        with self._lock:
            entries = list(self._entries)
        calls = []
        for entry in entries:
            try:
                value = encode(entry.result, store, budget)
            except (
                Exception
            ) as exc:  # one odd value (a file gone, a name a manifest refuses) costs only itself
                value = not_kept("", f"could not be written ({type(exc).__name__}: {str(exc)[:200]})")
            reason = value.data.get("reason") if isinstance(value.data, dict) else None
            if reason:
                self.notes.append(f"boundary {entry.name}({_short(entry.key)}): result not kept: {reason}")
            calls.append(
                BoundaryCall(
                    seq=entry.seq, name=entry.name, key=entry.key, args=_short(entry.key), result=value
                )
            )
        if self.dropped:
            self.notes.append(
                f"{self.dropped} boundary calls after the first {self.max_calls} were not recorded"
            )
        return calls


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def refuse_pickles(calls: Sequence[RecordedCall], trust: bool) -> None:
    """Without `trust`, refuse a recording that holds pickled results, naming the calls:
    loading a pickle can run code. (The replay engine asks before it builds anything.)"""
    refused = sorted({f"{c['name']}({_short(c['args'], 80)})" for c in calls if c["result"]["kind"] == "pickle"})
    if refused and not trust:
        raise ReplaySetupError(
            f"the capture holds {len(refused)} pickled result(s), which can run code when loaded: "
            f"{'; '.join(refused)}; pass --trust if you trust where this capture came from"
        )


class Player:
    """Replay mode: calls are served from the recording; the served ones are logged.

    The calls are plain data (`RecordedCall`), not `BoundaryCall` models: the replayed
    step's process would pay ~200 ms for pydantic and the capture models otherwise."""

    def __init__(
        self,
        calls: Sequence[RecordedCall],
        store: LocalStore,
        *,
        trust: bool,
        workdir: Path,
        path_map: Mapping[str, str] | None = None,
    ) -> None:
        refuse_pickles(calls, trust)
        self.store = store
        self.trust = trust
        self.workdir = Path(workdir)
        self.served: list[dict[str, Any]] = []
        """One entry per served call: seq, name, args, occurrence, repeated, fallback. Kept for
        inspection from the step's process (tests, a debugger); the verdict does not carry it."""
        self._by_key: dict[tuple[str, str], list[RecordedCall]] = {}
        self._names: dict[str, list[str]] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        rewrite = _path_rewriter(path_map or {})
        for c in sorted(calls, key=lambda c: c["seq"]):
            key = rewrite(c["key"])
            self._by_key.setdefault((c["name"], key), []).append(c)
            self._names.setdefault(c["name"], []).append(key)

    def through(
        self,
        name: str,
        run: Callable[[], T],
        key: Callable[[], str],
        record_as: Callable[[T], object] | None,
        fallback: Callable[[], T] | None,
    ) -> T:
        text = key()
        with self._lock:
            recorded = self._by_key.get((name, text))
            n = self._counts.get((name, text), 0)
            self._counts[(name, text)] = n + 1
            if recorded is None:
                if fallback is None:
                    raise UnrecordedCall(self._unrecorded(name, text))
                self.served.append({"seq": None, "name": name, "args": _short(text), "fallback": True})
                call = None
            else:
                call = recorded[min(n, len(recorded) - 1)]
                self.served.append(
                    {
                        "seq": call["seq"],
                        "name": name,
                        "args": call["args"],
                        "occurrence": n,
                        "repeated": n >= len(recorded),
                    }
                )
        if call is None:
            return fallback()  # type: ignore[misc]
        from replay.boundaries.values import decode

        result = decode(
            call["result"], self.store, trust=self.trust, workdir=self.workdir, label=f"{name}({call['args']})"
        )
        if call["result"]["kind"] == "error":
            raise result  # type: ignore[misc]
        return result  # type: ignore[return-value]

    def _unrecorded(self, name: str, key: str) -> str:
        known = self._names.get(name)
        message = f"{name}({_short(key)}) was not recorded in the capture, so the replay cannot serve it"
        if not known:
            return message + f"; the capture has no call of {name}"
        shown = "; ".join(f"({_short(k, 120)})" for k in dict.fromkeys(known))
        return message + f"; recorded calls of {name}: {_short(shown, 1000)}"


def _path_rewriter(path_map: Mapping[str, str]) -> Callable[[str], str]:
    """Turn original paths inside recorded keys into their local places, longest first,
    so a call that passes a remapped input path still matches its recording."""
    if not path_map:
        return lambda text: text
    originals = sorted(path_map, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(o) + r"(?=[/'\"\\)]|$)" for o in originals))
    return lambda text: pattern.sub(lambda m: path_map[m.group(0)], text)


# -- the controller ------------------------------------------------------------------------
def call(
    name: str,
    run: Callable[[], T],
    key: Callable[[], str],
    *,
    record_as: Callable[[T], object] | None = None,
    fallback: Callable[[], T] | None = None,
) -> T:
    """Make one boundary call under the current mode.

    `key` computes the argument key (only when recording or replaying). `record_as`
    turns the result into what is recorded when the result itself is not what a replay
    should serve (a live SDK run object becomes its facts). `fallback` serves a call that
    was never recorded, for calls with a harmless local answer (an offline run context).
    """
    controller = _controller
    if controller is None:
        return run()
    return controller.through(name, run, key, record_as, fallback)


def start_recording(config_from: str | Path | None = None, *, max_calls: int = MAX_CALLS) -> Recorder:
    """Record boundary calls from now on (capture agent, at start-up).

    With `config_from` (the step's script or source folder), the `[tool.replay]
    boundaries` of its pyproject.toml are patched too; a bad configuration is noted in
    `recorder.notes`, never raised, because the job must run as it would without us.
    """
    from replay.boundaries.patching import patch_configured

    global _controller
    recorder = _controller = Recorder(max_calls)
    if config_from is not None:
        try:
            patch_configured(config_from)
        except (ReplayError, OSError) as exc:
            recorder.notes.append(f"[tool.replay] boundaries not recorded: {exc}")
    return recorder


def start_replaying(
    calls: Sequence[RecordedCall],
    store: LocalStore,
    *,
    trust: bool,
    workdir: str | Path,
    path_map: Mapping[str, str] | None = None,
    config_from: str | Path | None = None,
) -> Player:
    """Serve boundary calls from a capture's `upstream` (replay engine, in the step's process),
    as plain data (`RecordedCall`).

    Refuses at once, naming them, when the capture holds pickles and `trust` is False.
    Rebuilt files and folders go under `workdir`. `path_map` maps original paths to
    local ones so recorded keys that mention input paths still match. The dotted names
    among the recorded calls are patched (the pyproject that declared them may not have
    been captured), and those configured from `config_from` (script or source folder).
    """
    from replay.boundaries.patching import patch_configured, patch_recorded

    global _controller
    player = _controller = Player(calls, store, trust=trust, workdir=Path(workdir), path_map=path_map)
    patch_recorded(c["name"] for c in calls)
    if config_from is not None:
        patch_configured(config_from)
    return player


def stop() -> None:
    """Back to off: calls run normally."""
    global _controller
    _controller = None


def active() -> Recorder | Player | None:
    return _controller


# -- the decorator -------------------------------------------------------------------------
def wrap(
    func: F,
    name: str,
    ignore: Iterable[str] = (),
    key: Callable[..., str] | None = None,
    record_as: Callable[[Any], object] | None = None,
) -> F:
    """Return `func` as a boundary called `name` (the decorator and dotted names use this).

    The argument key is the canonical text of the call bound to `func`'s signature, minus
    the parameters in `ignore`; or `key(*args, **kwargs)` when given.
    """
    skip = tuple(ignore)
    signature: list[Any] = []  # filled on first keyed call: inspect is not needed when off

    def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if key is not None:
            return key(*args, **kwargs)
        from replay.boundaries import keys

        if not signature:
            signature.append(keys.signature_of(func))
        return keys.call_key(signature[0], args, kwargs, skip)

    @functools.wraps(func)
    def boundary_call(*args: Any, **kwargs: Any) -> Any:
        if _controller is None:  # the common case, off: no closures made
            return func(*args, **kwargs)
        return call(name, lambda: func(*args, **kwargs), lambda: key_of(args, kwargs), record_as=record_as)

    boundary_call.__replay_boundary__ = name  # type: ignore[attr-defined]
    return boundary_call  # type: ignore[return-value]


@overload
def boundary(func: F, /) -> F: ...
@overload
def boundary(*, name: str | None = None, ignore: Iterable[str] = ()) -> Callable[[F], F]: ...
def boundary(
    func: F | None = None, /, *, name: str | None = None, ignore: Iterable[str] = ()
) -> F | Callable[[F], F]:
    """Declare a function whose results a replay serves from the capture.

    `@boundary` or `@boundary(name="loader", ignore=("client",))`. The default name is
    `module:qualname`; give a name when the function may move. `ignore` leaves
    arguments out of the key (a client object whose repr changes between runs).
    """

    def decorate(f: F) -> F:
        return wrap(f, name or f"{f.__module__}:{f.__qualname__}", ignore)

    return decorate(func) if func is not None else decorate
