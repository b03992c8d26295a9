"""The captured source of a traceback's frames, read from the store's blobs.

The Failure tab shows each frame's line in context from the code that actually ran
remotely (the capture), not from whatever is on this disk now.
"""

from __future__ import annotations

import posixpath

from replay.bundle import Manifest
from replay.errors import ReplayError
from replay.store import LocalStore

MAX_SOURCE = 1 << 20


def source_key(manifest: Manifest, frame_file: str) -> str | None:
    """The frame's file relative to the captured source root, or None outside it."""
    root = manifest.step.source_root
    if root is None:
        return None
    path = frame_file if posixpath.isabs(frame_file) else posixpath.join(manifest.step.cwd, frame_file)
    rel = posixpath.relpath(posixpath.normpath(path), root)
    return None if rel.startswith("..") else rel


def captured_sources(store: LocalStore, manifest: Manifest) -> dict[str, str]:
    """Text of every captured source file a traceback frame points into, by frame file."""
    by_path = {ref.path: ref for ref in manifest.step.sources if ref.sha256 and ref.copied}
    texts: dict[str, str] = {}
    frames = manifest.failure.frames if manifest.failure else []
    for frame in frames:
        key = source_key(manifest, frame.file)
        ref = by_path.get(key) if key else None
        if ref is None or ref.sha256 is None or frame.file in texts:
            continue
        try:
            texts[frame.file] = store.read_blob(ref.sha256, limit=MAX_SOURCE).decode(errors="replace")
        except (ReplayError, OSError):
            continue  # a missing or damaged blob: the tab shows the captured line alone
    return texts
