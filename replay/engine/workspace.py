"""Rebuild a captured step's files in a local work folder, and map its paths there.

Layout of a work folder::

    cwd/            the original working folder; everything that lived under it (the
                    source, inputs, outputs) keeps its place relative to it, so relative
                    paths in argv and in the code work unchanged
    src/            the captured source root, when it was not under the working folder
    inputs/N/NAME   each input that was not under the working folder
    outputs/N/NAME  likewise for outputs; an output exists only if it existed when the
                    step started, so "folder not created" bugs replay

Every path the step can see (argv values, environment values, its cwd) goes through
one `PathMap`, longest original prefix first, so the step sees consistent paths.

The manifest arrives as validated plain JSON data in normal form
(`LocalStore.load_document`), so a replay does not load pydantic to read it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.errors import ReplaySetupError, UntrustedCaptureError
from replay.pathmap import longest_first, map_prefix
from replay.store import LocalStore


@dataclass
class PathMap:
    """Original absolute path prefixes to local ones."""

    pairs: list[tuple[str, str]] = field(default_factory=list)

    def add(self, original: str, local: str | Path) -> None:
        self.pairs = longest_first([*self.pairs, (original, os.fspath(local))])

    def map_path(self, path: str) -> str | None:
        return map_prefix(path, self.pairs)

    def map_text(self, text: str) -> str:
        """Map a value that is a path, an `--opt=path`, or a `:`-separated path list."""
        if "=" in text and text.startswith("-"):
            option, value = text.split("=", 1)
            return f"{option}={self.map_text(value)}"
        if ":" in text and not text.startswith(("http:", "https:")):
            parts = text.split(":")
            if all(p.startswith("/") or not p for p in parts):
                return ":".join(self.map_path(p) or p for p in parts)
        return self.map_path(text) or text


@dataclass
class Workspace:
    root: Path
    src: Path
    cwd: Path
    paths: PathMap
    missing_inputs: list[str]


def _safe_join(base: Path, rel: str) -> Path:
    target = (base / rel).resolve()
    if not target.is_relative_to(base.resolve()):
        raise UntrustedCaptureError(f"path {rel!r} escapes its folder")
    return target


def _materialise_files(store: LocalStore, files: Iterable[Mapping[str, Any]], dest: Path) -> list[str]:
    """Write captured files (a manifest's `FileRef`s) under `dest`; return the relative
    paths not copied."""
    missing = []
    for ref in files:
        target = _safe_join(dest, ref["path"])
        if not ref["copied"] or ref["sha256"] is None:
            missing.append(ref["path"])
            continue
        store.copy_blob(ref["sha256"], target)
    return missing


def _local_name(path: str) -> str:
    name = os.path.basename(path.rstrip("/")) or "root"
    return name if name not in (".", "..") else "item"


def _under(path: str, folder: str) -> str | None:
    """`path` relative to `folder`, or None when it is not inside it."""
    rel = os.path.relpath(os.path.normpath(path), os.path.normpath(folder))
    return None if rel == ".." or rel.startswith("../") else rel


def place_for(original: str, cwd: str, root: Path, fallback: Path) -> Path:
    """Where an original path lives in the work folder."""
    rel = _under(original, cwd)
    if rel is None:
        return fallback
    return root / "cwd" if rel == "." else root / "cwd" / rel


def source_dir(manifest: Mapping[str, Any], root: Path) -> Path:
    """The work folder's copy of the captured source root."""
    step = manifest["step"]
    if not step["source_root"]:
        return root / "src"
    return place_for(step["source_root"], step["cwd"], root, root / "src")


def materialise(
    store: LocalStore,
    manifest: Mapping[str, Any],
    root: Path,
    source: Path | None = None,
    input_map: dict[str, str] | None = None,
) -> Workspace:
    """Lay out the work folder and build the path map. Reference-only inputs must be
    supplied through `input_map` (original path -> local path)."""
    input_map = {os.path.normpath(k): v for k, v in (input_map or {}).items()}
    paths = PathMap()
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("inputs", "outputs", "cwd"):
        shutil.rmtree(root / sub, ignore_errors=True)

    step = manifest["step"]
    cwd_orig = step["cwd"]
    if source is not None:
        src = source.resolve()
    else:
        src = source_dir(manifest, root)
        shutil.rmtree(root / "src", ignore_errors=True)
        src.mkdir(parents=True, exist_ok=True)
        _materialise_files(store, step["sources"], src)
    if step["source_root"]:
        paths.add(step["source_root"], src)

    missing: list[str] = []
    for n, item in enumerate(manifest["inputs"]):
        dest = place_for(item["path"], cwd_orig, root, root / "inputs" / str(n) / _local_name(item["path"]))
        local = _place_input(store, item, dest, input_map, missing)
        if local is not None:
            paths.add(item["path"], local)

    for n, out in enumerate(manifest["outputs"]):
        local = place_for(out["path"], cwd_orig, root, root / "outputs" / str(n) / _local_name(out["path"]))
        local.parent.mkdir(parents=True, exist_ok=True)
        if out["existed_at_start"]:
            local.mkdir(exist_ok=True)
        paths.add(out["path"], local)

    cwd = root / "cwd"
    cwd.mkdir(exist_ok=True)
    paths.add(cwd_orig, cwd)
    return Workspace(root=root, src=src, cwd=cwd, paths=paths, missing_inputs=missing)


def _place_input(
    store: LocalStore, item: Mapping[str, Any], target: Path, input_map: dict[str, str], missing: list[str]
) -> Path | None:
    path = item["path"]
    supplied = input_map.get(os.path.normpath(path))
    if supplied is not None:
        local = Path(supplied).resolve()
        if not local.exists():
            raise ReplaySetupError(f"--input-map {path}={supplied}: {supplied} does not exist")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(local)  # so relative paths to the input find it too
        return target
    if item["kind"] == "file":
        if not item["copied"] or item["sha256"] is None:
            missing.append(path)
            return None
        store.copy_blob(item["sha256"], target)
        return target
    target.mkdir(parents=True, exist_ok=True)
    not_copied = _materialise_files(store, item["files"], target)
    if not_copied:
        missing.append(path)
    return target
