"""One capture as a self-contained archive, for a bug report or a colleague.

The archive is a gzipped tar of `manifest.json` and `blobs/<sha256>`. Importing never
extracts to disk: each member is checked (a regular file, an expected name, a bounded
size) and streamed into the store, which verifies its hash; links, devices, stray
names and oversized members are refused before anything is published.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from replay.errors import UntrustedCaptureError
from replay.store import MAX_MANIFEST, LocalStore, is_hash

MAX_MEMBERS = 1_000_000
MAX_TOTAL = 64 << 30


def export_capture(store: LocalStore, capture_id: str, dest: Path) -> int:
    """Write the archive; return its size in bytes. Written beside `dest` and renamed."""
    payload = store.manifest_bytes(capture_id)
    manifest = store.parse_published(capture_id, payload)  # what is exported is what was checked
    tmp = dest.with_name(f".{dest.name}.part")
    with tarfile.open(tmp, "w:gz", compresslevel=3) as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(payload)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
        for digest, _ in manifest.blobs():
            info = tarfile.TarInfo(f"blobs/{digest}")
            info.mode = 0o444
            with store.open_blob(digest) as blob:  # a blob file or a packed blob
                info.size = blob.seek(0, os.SEEK_END)
                blob.seek(0)
                tar.addfile(info, blob)
    os.replace(tmp, dest)
    return dest.stat().st_size


def import_capture(store: LocalStore, source: Path) -> str:
    """Import an archive into the store; return the capture id."""
    try:
        tar = tarfile.open(source, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise UntrustedCaptureError(f"{source}: not a capture archive ({exc})") from None
    store.ensure()
    with tar:
        payload: bytes | None = None
        total = 0
        members = 0
        for member in tar:
            members += 1
            total += member.size
            if members > MAX_MEMBERS or total > MAX_TOTAL:
                raise UntrustedCaptureError(f"{source}: archive too large")
            name = member.name
            if not member.isreg():
                raise UntrustedCaptureError(f"{source}: refusing non-file member {name!r}")
            if name == "manifest.json":
                if member.size > MAX_MANIFEST:
                    raise UntrustedCaptureError(f"{source}: manifest too large")
                payload = _read(tar, member)
            elif name.startswith("blobs/") and is_hash(name[6:]):
                stream = tar.extractfile(member)
                if stream is None:
                    raise UntrustedCaptureError(f"{source}: unreadable member {name!r}")
                store.add_stream(stream, expected=name[6:])
            else:
                raise UntrustedCaptureError(f"{source}: unexpected member {name!r}")
        if payload is None:
            raise UntrustedCaptureError(f"{source}: no manifest.json in archive")
    manifest = LocalStore.parse_manifest(payload, origin=str(source))
    capture_id = manifest.id
    named = [d for d, _ in manifest.blobs()]
    held = store.present(named)
    missing = [d for d in named if d not in held]
    if missing:
        raise UntrustedCaptureError(f"{source}: archive lacks blob {missing[0][:12]} named by its manifest")
    store.publish_raw(capture_id, payload, manifest)
    return capture_id


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = tar.extractfile(member)
    if stream is None:
        raise UntrustedCaptureError(f"unreadable member {member.name!r}")
    return stream.read(MAX_MANIFEST + 1)
