"""A manifest as plain JSON data: the blobs it names and its listing row.

The capture agent writes manifests without loading pydantic (its first model costs
a job 100-300 ms); readers validate every manifest with `replay.bundle.Manifest`,
whose `blobs()` and `summary()` are these same functions, so writer and reader can
never disagree on what a capture holds. The checks beyond JSON types (`CHECKS`) live
here too: the models run them, and so does the replay engine's standard-library
validator (`replay.schema`), which finds them named in the manifest's JSON Schema.
Standard library only.
"""

from __future__ import annotations

import os

try:  # the C encoder and parser `json` uses, without `json`, whose import loads `re`
    # (~15 ms of a failing job's capture)
    from _json import encode_basestring_ascii, make_encoder, make_scanner
except ImportError:  # pragma: no cover - an interpreter without the accelerator
    from json.encoder import py_encode_basestring_ascii as encode_basestring_ascii

    make_encoder = make_scanner = None

SCHEMA_VERSION = 1
"""The manifest format this replay writes and reads."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any, TypeVar

    T = TypeVar("T")

CHECK_KEY = "x-replay-check"
"""The JSON Schema keyword that names a value's entry in `CHECKS`."""


HEX_DIGITS = "0123456789abcdef"
"""Lowercase hex: what blob hashes and capture ids are spelled in."""


def is_hash(value: object) -> bool:
    """A sha256 hex digest, the name of every blob."""
    # str.strip runs in C: what is left after stripping hex digits is not hex.
    return isinstance(value, str) and len(value) == 64 and not value.strip(HEX_DIGITS)


def check_sha256(value: str) -> str:
    if not is_hash(value):
        raise ValueError(f"not a sha256 hex digest: {value[:80]!r}")
    return value


def check_relpath(value: str) -> str:
    """A path stored relative to a root must stay under that root."""
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        raise ValueError(f"unsafe relative path: {value[:200]!r}")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError(f"unsafe relative path: {value[:200]!r}")
    return value


def is_text(value: str) -> bool:
    """Whether `value` is text a manifest (or the index) can hold: a file name whose bytes
    are not UTF-8 comes back from the file system with surrogates, which the manifest's
    validators refuse and SQLite cannot store."""
    if value.isascii():  # most names: no encoding needed to tell
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_capture_id(value: str) -> bool:
    """Twelve lowercase hex digits: the name of every capture's folder."""
    return len(value) == 12 and not value.strip(HEX_DIGITS)


def check_capture_id(value: str) -> str:
    if not is_capture_id(value):
        raise ValueError(f"capture id must be 12 hex digits, got {value[:40]!r}")
    return value


def check_schema_version(value: int) -> int:
    if value != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema_version {value} (this replay reads {SCHEMA_VERSION})")
    return value


CHECKS: dict[str, Callable[[Any], Any]] = {
    "sha256": check_sha256,
    "relpath": check_relpath,
    "capture_id": check_capture_id,
    "schema_version": check_schema_version,
}
"""Each check returns its (already type-checked) value unchanged or raises ValueError."""


def relative_to_root(path: str, root: str | None) -> str:
    """`path` relative to `root` when under it, else its file name: how a failure's file is
    named in a verdict, so that captured and replayed sites compare across machines."""
    if root and (path == root or path.startswith(root.rstrip("/") + "/")):
        return os.path.relpath(path, root)
    return os.path.basename(path)


def item_at(items: Sequence[T], index: int | None) -> T | None:
    """`items[index]`, or None when `index` is None or out of range: a failure's `site`
    (its innermost frame in user code) comes from an untrusted manifest."""
    if index is None or not 0 <= index < len(items):
        return None
    return items[index]


def dumps(value: object, default: Callable[[Any], object] | None = None) -> str:
    """`value` as compact JSON: what `json.dumps(value, separators=(",", ":"),
    default=default)` writes, without its check for circular references."""
    if make_encoder is None:  # pragma: no cover
        import json

        return json.dumps(value, separators=(",", ":"), default=default)
    encoder = make_encoder(None, default or _not_serialisable, encode_basestring_ascii, None,
                           ":", ",", False, False, True)
    return "".join(encoder(value, 0))


def _not_serialisable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Parsing:
    """The settings the C parser reads from `json.JSONDecoder`: its defaults."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


def loads(text: str) -> Any:
    """The value of a JSON text, as `json.loads` reads it. A text with no whitespace
    around its value (as `dumps` writes it) is read by the C parser alone; any other,
    and any error, is handed to `json`, which reads it or says what is wrong with it
    (the C parser reports errors through `json`'s own error type, and before Python
    3.12 only once `json` is loaded)."""
    if make_scanner is not None:
        try:
            value, end = make_scanner(_Parsing)(text, 0)
        except (StopIteration, SystemError):
            pass
        else:
            if end == len(text):
                return value
    import json

    return json.loads(text)


class Encoded:
    """A part of a manifest encoded as JSON already, with the blobs it names.

    A folder's file records, reused whole from an earlier capture of the same unchanged
    folder: a second capture of 10,000 files then neither rebuilds nor re-encodes
    10,000 records. `encode` splices the text in; `blobs` reads `blobs`."""

    __slots__ = ("text", "blobs")

    def __init__(self, text: str, blobs: dict[str, int]) -> None:
        self.text = text
        self.blobs = blobs


def encode(doc: Mapping[str, Any]) -> bytes:
    """`doc` as compact JSON (the C encoder), `Encoded` parts spliced in as they are.

    Each part is first written as a string token holding a random nonce that nothing
    else in the manifest can contain, then replaced by its text."""
    parts: dict[str, str] = {}
    nonce = os.urandom(8).hex()

    def token(value: object) -> str:
        if not isinstance(value, Encoded):
            raise TypeError(f"{type(value).__name__} is not JSON serialisable")
        text = f"\0replay-encoded-{nonce}-{len(parts)}"
        parts[dumps(text)] = value.text
        return text

    text = dumps(doc, default=token)
    for placeholder, part in parts.items():
        text = text.replace(placeholder, part, 1)
    return text.encode()


def blobs(doc: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every blob the manifest names with its size (-1 where the manifest has none), by
    hash."""
    return sorted(blob_sizes(doc).items())


def blob_sizes(doc: Mapping[str, Any]) -> dict[str, int]:
    """The size of every blob the manifest names (-1 where it has none), unsorted: a
    publication needs only the hashes (sorting 10,000 cost it ~5 ms)."""
    found: dict[str, int] = {}

    def add_files(files: Iterable[Mapping[str, Any]] | Encoded) -> None:
        if isinstance(files, Encoded):
            found.update(files.blobs)
            return
        for f in files:
            if f.get("sha256") and f.get("copied", True):
                found[f["sha256"]] = f["size"]

    add_files(doc["step"].get("sources", []))
    for item in doc.get("inputs", []):
        if item.get("copied", True) and item.get("sha256") and item["kind"] == "file":
            found[item["sha256"]] = item["size"]
        add_files(item.get("files", []))
    for call in doc.get("upstream", []):
        result = call["result"]
        if result.get("blob"):
            found.setdefault(result["blob"], -1)
        add_files(result.get("files", []))
    env = doc.get("environment", {})
    for digest in (env.get("pylock"), env.get("requirements"), *doc.get("extra", {}).get("blobs", [])):
        if is_hash(digest):
            found.setdefault(digest, -1)
    return found


def summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The row `replay ls --json` prints and the index stores."""
    failure = doc.get("failure")
    return {
        "id": doc["id"],
        "step": doc["step"]["name"],
        "created": doc["created"],
        "status": doc["status"],
        "kind": doc.get("kind", "step"),
        "error": f"{failure['type']}: {failure['message']}"[:300] if failure else "",
        "exit_code": doc["outcome"]["exit_code"],
        "host": str(doc.get("environment", {}).get("host", {}).get("hostname", "")),
        "source_hash": str(doc.get("extra", {}).get("source_hash", "")),
    }
