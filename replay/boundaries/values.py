"""Safe serialisation of recorded results: `encode` at capture, `decode` at replay.

Each result takes the first form that fits: exact JSON (inline when small, a blob when
not), a DataFrame or Series as parquet, an array as `.npy` (no pickled objects inside),
an existing file or folder copied into blobs and rebuilt under the work folder, an
exception as its type name and message. Only what none of these fit is pickled, and a
pickle is loaded only with the user's explicit trust, because loading one runs code.
Every copied byte is charged to the capture's `Budget`; what does not fit is recorded as
`none` with the reason, so the replay can say why it cannot serve that call.

pandas, numpy and pyarrow are imported only when such a value is met. `encode` builds
`bundle.Value` models; `decode` reads the same values as validated plain JSON data, so a
replay never loads pydantic.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from replay.boundaries.jsontree import NotJson, from_tree, to_tree
from replay.boundaries.snapshot import (
    JsonResult,
    NotKept,
    PathResult,
    RaisedError,
    dotted,
    files_under,
    take,
)
from replay.errors import ReplaySetupError, UntrustedCaptureError
from replay.store import LocalStore

if TYPE_CHECKING:
    from replay.bundle import Value

RecordedValue = Mapping[str, Any]
"""A `bundle.Value` as `decode` reads it: validated plain JSON data in normal form (every
field present), as `LocalStore.load_document` returns it."""

INLINE_JSON = 64 << 10
"""JSON texts up to this size live in the manifest; larger ones become blobs."""
MAX_JSON_NODES = 10_000_000
MAX_BLOB = 16 << 30
MAX_FILES = 100_000


class Budget(Protocol):
    """Bytes the capture may still copy, shared with its inputs (`capture.files.Budget`),
    so one huge model cannot silently crowd out the rest: what does not fit is recorded
    as not kept, with the reason. A file or folder result is charged as one item."""

    def take(self, size: int) -> bool: ...


class RecordedError(Exception):
    """An exception recorded at capture, raised again at replay.

    The class raised is made at replay with the original's name and module, and with its
    nearest built-in ancestor as a second base, so `except ValueError:` in the step and
    the verdict's comparison of type names behave as they did; the original class itself
    is never imported or unpickled. `type_name` is the original's dotted name.
    """

    type_name = "RecordedError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- encode -------------------------------------------------------------------------------
def encode(value: object, store: LocalStore, budget: Budget) -> Value:
    """Serialise one result (or a snapshot of it) into a `Value`, its bytes into `store`."""
    value = take(value)
    if isinstance(value, RaisedError):
        data = {
            "module": value.module,
            "qualname": value.qualname,
            "message": value.message,
            "builtin": value.builtin,
            "args": value.args,
        }
        return _value("error", data=data, type=value.type_name)
    if isinstance(value, NotKept):
        return not_kept("", value.reason)
    if isinstance(value, JsonResult):
        return _json(value.tree, value.type_name, store, budget)
    if isinstance(value, PathResult):
        return _path(value, store, budget)
    try:  # too big to convert when the call was recorded, but still plain data
        return _json(to_tree(value, max_nodes=MAX_JSON_NODES), _type_name(value), store, budget)
    except NotJson:
        pass
    for encoder in (_parquet, _npy):
        encoded = encoder(value, store, budget)
        if encoded is not None:
            return encoded
    return _pickle(value, store, budget)


def _value(kind: str, **fields: Any) -> Value:
    """Build a `bundle.Value`, importing pydantic here, on the capture side only."""
    from replay.bundle import Value

    return Value(kind=kind, **fields)  # type: ignore[arg-type]


def _type_name(value: object) -> str:
    return dotted(type(value).__module__, type(value).__qualname__)


def not_kept(type_name: str, reason: str) -> Value:
    """A result recorded without its value; `decode` raises `reason` if a replay asks for it."""
    return _value("none", data={"reason": reason}, type=type_name)


def _blob(
    kind: str, payload: bytes, store: LocalStore, budget: Budget, type_name: str, data: Any = None
) -> Value:
    if not budget.take(len(payload)):
        return not_kept(type_name, f"{len(payload)} bytes, over the capture's size budget")
    return _value(kind, blob=store.add_bytes(payload), data=data, type=type_name)


def _json(tree: Any, type_name: str, store: LocalStore, budget: Budget) -> Value:
    text = json.dumps(tree, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= INLINE_JSON:
        return _value("json", data=tree, type=type_name)
    return _blob("json", text.encode(), store, budget, type_name)


def _parquet(value: object, store: LocalStore, budget: Budget) -> Value | None:
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(value, (pandas.DataFrame, pandas.Series)):
        return None
    frame, data = value, None
    if isinstance(value, pandas.Series):
        try:
            data = {"series": True, "name": to_tree(value.name)}
        except NotJson:
            data = {"series": True, "name": None}
        frame = value.to_frame(name="series")
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer)
    except Exception:  # pyarrow refuses mixed object columns and the like: try the next form
        return None
    return _blob("parquet", buffer.getvalue(), store, budget, _type_name(value), data)


def _npy(value: object, store: LocalStore, budget: Budget) -> Value | None:
    numpy = sys.modules.get("numpy")
    if numpy is None or not isinstance(value, (numpy.ndarray, numpy.generic)):
        return None
    buffer = io.BytesIO()
    try:
        numpy.save(buffer, numpy.asarray(value), allow_pickle=False)
    except ValueError:  # object arrays need pickle
        return None
    data = {"scalar": True} if isinstance(value, numpy.generic) else None
    return _blob("npy", buffer.getvalue(), store, budget, _type_name(value), data)


def _pickle(value: object, store: LocalStore, budget: Budget) -> Value:
    try:
        payload = pickle.dumps(value, protocol=5)
    except Exception as exc:
        return not_kept(_type_name(value), f"cannot be serialised ({type(exc).__name__}: {str(exc)[:200]})")
    return _blob("pickle", payload, store, budget, _type_name(value))


def _path(result: PathResult, store: LocalStore, budget: Budget) -> Value:
    """Copy a file or a folder's files into blobs, all or nothing against the budget."""
    from replay.bundle import FileRef

    root = Path(result.absolute)
    type_name = "pathlib.Path" if result.as_path else "str"
    data = {"path": result.absolute}
    if root.is_file():
        kind, files = "file", [(root.name, root)]
    elif root.is_dir():
        kind, files = "dir", files_under(root, MAX_FILES)
    else:
        return not_kept(type_name, f"{result.absolute} no longer existed when the capture was written")
    if len(files) > MAX_FILES:
        return not_kept(type_name, f"{result.absolute} holds more than {MAX_FILES} files")
    sizes = [p.stat().st_size for _, p in files]
    if not budget.take(sum(sizes)):
        refs = [
            FileRef(path=rel, size=size, copied=False) for (rel, _), size in zip(files, sizes, strict=True)
        ]
        data["reason"] = f"{sum(sizes)} bytes, over the capture's size budget"
        return _value(kind, data=data, files=refs, type=type_name)
    refs = []
    for rel, path in files:
        digest, size = store.add_file(path)
        refs.append(FileRef(path=rel, size=size, sha256=digest))
    return _value(kind, data=data, files=refs, type=type_name)


# -- decode -------------------------------------------------------------------------------
def decode(value: RecordedValue, store: LocalStore, *, trust: bool, workdir: Path, label: str = "value") -> object:
    """Rebuild a recorded result. `label` names the call in every error.

    An `error` value is returned as an exception instance for the caller to raise.
    Raises `ReplaySetupError` for a pickle without `trust` and for a result that was not
    kept, `UntrustedCaptureError` for a value that is malformed or does not match its blobs.
    """
    kind, data = value["kind"], value["data"]
    try:
        if kind == "json":
            return from_tree(json.loads(_read(value, store)) if value["blob"] else data)
        if kind == "parquet":
            return _read_parquet(value, store)
        if kind == "npy":
            return _read_npy(value, store)
        if kind in ("file", "dir"):
            place = _rebuild(value, store, Path(workdir), label)
            return place if value["type"] == "pathlib.Path" else str(place)
        if kind == "error":
            return _exception(data)
        if kind == "pickle":
            return _unpickle(value, store, trust, label)
        reason = data.get("reason", "no reason recorded") if isinstance(data, dict) else "unknown"
        raise ReplaySetupError(f"{label}: its result ({value['type']}) was not kept at capture: {reason}")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise UntrustedCaptureError(f"{label}: malformed recorded {kind} value: {exc}") from None


def _unpickle(value: RecordedValue, store: LocalStore, trust: bool, label: str) -> object:
    if not trust:
        raise ReplaySetupError(f"{label} returned a pickle ({value['type']}); pass --trust to load it")
    payload = _read(value, store)
    try:
        return pickle.loads(payload)
    except Exception as exc:
        raise ReplaySetupError(
            f"{label}: its pickled result ({value['type']}) could not be loaded: {exc}"
        ) from exc


def _read(value: RecordedValue, store: LocalStore) -> bytes:
    if value["blob"] is None:
        raise ValueError("no blob")
    return store.read_blob(value["blob"], limit=MAX_BLOB)


def _read_parquet(value: RecordedValue, store: LocalStore) -> object:
    import pandas

    frame = pandas.read_parquet(io.BytesIO(_read(value, store)))
    data = value["data"]
    if isinstance(data, dict) and data.get("series"):
        return frame.iloc[:, 0].rename(from_tree(data.get("name")))
    return frame


def _read_npy(value: RecordedValue, store: LocalStore) -> object:
    import numpy

    array = numpy.load(io.BytesIO(_read(value, store)), allow_pickle=False)
    data = value["data"]
    return array[()] if isinstance(data, dict) and data.get("scalar") else array


def _rebuild(value: RecordedValue, store: LocalStore, workdir: Path, label: str) -> Path:
    """Recreate a recorded file or folder under `workdir` and return its new path.

    The place is named by content, so replaying the same call twice (or from two worker
    processes) reuses one copy; it is built in a temporary folder and renamed into place.
    """
    kind, data, files = value["kind"], value["data"], value["files"]
    original = str(data.get("path", "")) if isinstance(data, dict) else ""
    missing = [ref["path"] for ref in files if not ref["copied"] or ref["sha256"] is None]
    if missing:
        reason = data.get("reason", "") if isinstance(data, dict) else ""
        raise ReplaySetupError(
            f"{label}: {original or kind} was not copied at capture ({reason or 'no content'})"
        )
    name = os.path.basename(original.rstrip("/")) if kind == "dir" else ""
    if name in ("", ".", ".."):
        name = "dir"
    listing = json.dumps([kind, name, sorted((ref["path"], ref["sha256"]) for ref in files)])
    ident = hashlib.sha256(listing.encode()).hexdigest()[:16]
    final = workdir / f"{kind}-{ident}"
    place = final / name if kind == "dir" else final / files[0]["path"]
    if final.is_dir():
        return place
    workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".rebuild-", dir=workdir))
    try:
        base = work / name if kind == "dir" else work
        base.mkdir(exist_ok=True)
        for ref in files:
            target = (base / ref["path"]).resolve()
            if not target.is_relative_to(base.resolve()):
                raise UntrustedCaptureError(f"{label}: recorded file {ref['path']!r} escapes its folder")
            try:
                store.copy_blob(str(ref["sha256"]), target)
            except UntrustedCaptureError as exc:
                raise UntrustedCaptureError(f"{label}: {exc}") from None
        try:
            os.rename(work, final)
        except OSError:
            if not final.is_dir():  # another process finished first otherwise
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return place


_made: dict[tuple[str, str, str], type[RecordedError]] = {}


def _exception(data: Any) -> BaseException:
    module, qualname, message = str(data["module"]), str(data["qualname"]), str(data["message"])
    base = getattr(builtins, str(data.get("builtin", "Exception")), Exception)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    if module == "builtins" and qualname == base.__name__:
        args = from_tree(data["args"]) if isinstance(data.get("args"), dict) else (message,)
        try:
            return base(*args)
        except TypeError:
            return base(message)
    key = (module, qualname, base.__name__)
    if key not in _made:
        _made[key] = _recorded_type(module, qualname, base)
    return _made[key](message)


def _recorded_type(module: str, qualname: str, base: type[Exception]) -> type[RecordedError]:
    namespace = {"__module__": module, "__qualname__": qualname, "type_name": f"{module}.{qualname}"}
    short = qualname.rpartition(".")[2]
    try:
        made = type(short, (RecordedError, base), namespace)
        made("probe")  # a few built-ins need more constructor arguments
        return made
    except TypeError:
        return type(short, (RecordedError,), namespace)
