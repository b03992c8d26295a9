"""Manifests this user has already validated, so that reading one again skips pydantic.

Every reader validates a manifest with `replay.bundle.Manifest` before using it, because
captures come from other machines. That costs a command 200-300 ms (pydantic's import
and its first model), more than the rest of a `replay run`. A published manifest never
changes, and bytes that passed validation once pass it again under the same schema, so
this cache records that fact. The key is the sha256 of the exact bytes plus a
fingerprint of the schema: its version and the source of what checks it. An
edited manifest has another hash, so it is validated again. A changed schema starts a
new, empty cache.

The cache belongs to the user (`$XDG_CACHE_HOME/replay/validated`, by default
`~/.cache/replay/validated`) and never to a store. A store can come from elsewhere (a
job's outputs folder, a copied directory) with any files its sender put in it. If its
own records were trusted, a hostile capture could vouch for itself. An entry is empty
when the manifest's JSON is already in its validated normal form (every field present,
as `Manifest.model_dump(mode="json")` writes it). Otherwise the entry holds that normal
form. Standard library only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from replay.document import SCHEMA_VERSION

SCHEMA_SOURCES = ("bundle.py", "document.py", "schema.py", "manifest.schema.json")
"""What decides whether a manifest is valid: the models, their checks, and the
standard-library validator with the schema it reads."""


@functools.cache
def fingerprint() -> str | None:
    """The schema's identity: its version and `SCHEMA_SOURCES` (None when one cannot be
    read, and then nothing is cached)."""
    digest = hashlib.sha256(b"schema %d\n" % SCHEMA_VERSION)
    try:
        for name in SCHEMA_SOURCES:
            with open(os.path.join(os.path.dirname(__file__), name), "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
    except OSError:
        return None
    return digest.hexdigest()[:32]


def cache_dir() -> Path | None:
    """This schema's folder of entries, or None when there is nowhere to keep them."""
    schema = fingerprint()
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG rule: a relative value is ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    if schema is None or not os.path.isabs(base):
        return None
    return Path(base, "replay", "validated", schema)


def load(payload: bytes, validate: Callable[[bytes], dict[str, Any]]) -> dict[str, Any]:
    """The validated normal form of the manifest `payload`.

    `validate` checks the bytes and returns their normal form, raising on an invalid
    manifest. It runs only when this user has not yet validated these exact bytes under
    this schema, and a success is recorded for next time."""
    folder = cache_dir()
    if folder is None:
        return validate(payload)
    entry = folder / hashlib.sha256(payload).hexdigest()
    try:
        kept = entry.read_bytes()
        return json.loads(kept or payload)  # type: ignore[no-any-return]
    except (OSError, ValueError):  # not validated yet, or an unreadable entry
        pass
    normal = validate(payload)
    _record(entry, b"" if json.loads(payload) == normal else json.dumps(normal).encode())
    return normal


def _record(entry: Path, content: bytes) -> None:
    """Write an entry whole (a reader never sees half of one); failing is harmless."""
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp.write_bytes(content)
        os.replace(tmp, entry)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass  # never written, or nowhere to write
