"""Which files a capture keeps, and copying them into the store.

Inputs come from three places (paths in argv, declared inputs, files the step opened
for reading); sources are the user's files under the step's source root. Both are
copied into the store's blobs within size budgets; what does not fit is recorded by
path and size only (reference-only) and must be supplied at replay.
"""

from __future__ import annotations

import os
import stat
from operator import attrgetter, itemgetter

from replay.capture.failure import is_library_file
from replay.capture.scan import MAX_INPUT_FILES, SKIP_DIRS, fingerprint, records_of
from replay.document import Encoded, dumps, encode_basestring_ascii, is_hash, is_text, loads
from replay.errors import UntrustedCaptureError
from replay.hashing import FileChanged, digest_bytes

TYPE_CHECKING = False  # typing costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from replay.capture.scan import FolderScan, Stat
    from replay.packs import PackWriter
    from replay.store import LocalStore

SOURCE_SUFFIXES = frozenset(
    {".py", ".pyi", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".json", ".txt", ".sh", ".md",
     ".sql", ".j2", ".jinja"}
)
SYSTEM_PREFIXES = ("/proc/", "/sys/", "/dev/", "/etc/", "/usr/", "/lib", "/bin/", "/sbin/",
                   "/var/lib/", "/run/")


class Budget:
    """How many input bytes may still be copied. (Plain classes in this module: it
    loads on a failing job's path, where `dataclasses` costs ~10 ms.)"""

    def __init__(self, left: int, per_file: int) -> None:
        self.left = left
        self.per_file = per_file

    def take(self, size: int) -> bool:
        if size > self.per_file or size > self.left:
            return False
        self.left -= size
        return True

    def take_all(self, total: int, largest: int) -> bool:
        """Take files of `total` bytes, the largest of `largest`, if all of them fit."""
        if largest > self.per_file or total > self.left:
            return False
        self.left -= total
        return True


class Listing:
    """A folder's file records (encoded), with their total size and largest file."""

    __slots__ = ("files", "size", "largest")

    def __init__(self, files: Encoded, size: int, largest: int) -> None:
        self.files = files
        self.size = size
        self.largest = largest


COPY_THREADS = 3
"""A whole capture of 10,000 files of 100 KiB into packs took 1.11 s with two threads,
1.08 s with three and 1.17 s with four on this 2-core machine (medians of five)."""
PARALLEL_FROM = 32
"""Fewer files than this are copied by the calling thread alone."""


class Copier:
    """Copies files into a store's blobs, reusing hashes of files seen unchanged before.

    Many files are copied by a few threads (`COPY_THREADS`), each appending the small
    ones to its own pack (`replay.packs`), so that reading, hashing (without the GIL)
    and writing overlap and no file is created per input file. A big file is copied by
    the kernel while its thread hashes it. `scans` are the `find`s started for input
    folders at the failure (`replay.capture.scan`), by folder.
    """

    def __init__(self, store: LocalStore, scans: dict[str, FolderScan] | None = None) -> None:
        self.store = store
        self.scans = scans or {}
        self.remembered: dict[str, tuple[Stat, str]] = {}
        """The stat and hash of each file this capture copied, until `flush`: a folder
        listed again (`FolderChanged`) reuses them for its files that stat the same."""
        self.listings: list[tuple[str, str, str, str, str, int, int, str]] = []
        self.held: set[str] = set()
        """Blobs this capture wrote or found in the store, until `flush`: its publication
        need not look for them again (~40 ms for 10,000 here)."""

    def _known(self, items: list[tuple[str, Stat]]) -> dict[str, str]:
        cached = self.store.index().cached_hashes(items)
        if self.remembered:
            for path, st in items:
                mine = self.remembered.get(path)
                if mine is not None and _facts(mine[0]) == _facts(st):
                    cached[path] = mine[1]
        held = self.store.present(set(cached.values()))
        self.held |= held
        return {p: h for p, h in cached.items() if h in held}

    def one(self, path: str, st: Stat) -> tuple[str, int]:
        return self.many([(path, st)])[0]

    def many(self, items: list[tuple[str, Stat]], as_listed: bool = False) -> list[tuple[str, int]]:
        """(hash, size) of each file, copied unless its hash is remembered. `as_listed`:
        raise `FolderChanged` unless every file copied had the size it was listed with
        (remembering the files that had)."""
        known = self._known(items)
        todo = [(p, st) for p, st in items if p not in known]
        copied = self._copy([p for p, _ in todo])
        self.held.update(digest for digest, _ in copied)
        fresh = dict(zip((p for p, _ in todo), copied))
        changed = None
        for p, st in todo:
            digest, size = fresh[p]
            if size == st.st_size:
                self.remembered[p] = (st, digest)
            elif changed is None:
                changed = p
        if as_listed and changed is not None:
            raise FolderChanged(changed)
        return [(known[p], st.st_size) if p in known else fresh[p] for p, st in items]

    def _copy(self, paths: list[str]) -> list[tuple[str, int]]:
        """(hash, size) of each of `paths`, copied into the store; the first error, if
        any, is raised once the other threads have stopped. Many files go into one pack
        per thread (`replay.packs`), named only once every thread is done."""
        if len(paths) < PARALLEL_FROM:
            return [self.store.add_file(p) for p in paths]
        from replay.threads import Worker

        results: list[tuple[str, int]] = [("", 0)] * len(paths)
        errors: list[BaseException] = []
        packs: list[PackWriter] = []
        turns = iter(range(len(paths)))  # next() on it is atomic under the GIL
        held = self.store.recently_packed()

        def work() -> None:
            pack = self.store.new_pack(held)
            packs.append(pack)
            for i in turns:
                if errors:
                    return
                try:
                    results[i] = self.store.add_file(paths[i], pack)
                except BaseException as exc:
                    errors.append(exc)
                    return

        workers: list[Worker] = []
        try:
            try:
                for _ in range(COPY_THREADS - 1):  # the calling thread is the last copier
                    workers.append(Worker(work))
            except RuntimeError:  # no more threads to be had: fewer copy the rest
                pass
            work()
            for worker in workers:
                worker.join()
            if errors:
                raise errors[0]
            for pack in packs:
                pack.close()
        finally:
            # Interrupted (Ctrl-C in a join): the others stop at their next file, and
            # their packs are let go of only once nothing writes to them.
            errors.append(_STOPPED)
            for worker in workers:
                worker.join()
            for pack in packs:
                pack.discard()
        return results

    def recalled(self, folder: str, fingerprint: str | None = None) -> tuple[str, Listing] | None:
        """The listing remembered for `folder` (at `fingerprint`, if given) and the
        fingerprint the folder had then, if the listing is whole and its blobs are all
        still in the store: a second capture of an unchanged folder of 10,000 files
        then needs no look-up, copy or record per file. The blobs are known to be held
        by the packs they were in (`LocalStore.where_held`), still there, and by the
        blob files of the others; reading the row back takes a while all the same
        (~25 ms for 10,000 files here), so it is done while `find` takes the folder's
        present fingerprint, when it does."""
        row = self.store.index().cached_listing(folder)
        if row is None or (fingerprint is not None and row[0] != fingerprint):
            return None
        fingerprint, text, text_digest, blob_text, size, largest, held_text = row
        try:
            blobs = loads(blob_text)
            packs, loose = loads(held_text)
            if not (isinstance(blobs, dict) and all(map(is_hash, blobs)) and _texts(packs)
                    and _texts(loose) and self.store.packs_held(packs)
                    and self.store.present(loose) == set(loose)):
                return None
        except (ValueError, TypeError, RecursionError, UntrustedCaptureError):  # a damaged row
            return None
        # Spliced into the manifest unparsed: what was stored must be what comes back.
        if digest_bytes(text.encode()) != text_digest:
            return None
        self.held.update(blobs)
        return fingerprint, Listing(Encoded(text, blobs), size, largest)

    def listing(self, folder: str, fingerprint: str, files: list[tuple[str, Stat]],
                as_listed: bool = False) -> Listing:
        """Copy `files` (all of `folder`'s) and remember their records at `fingerprint`,
        which must be that of these very stats (`folder_fingerprint`). `as_listed`: as
        for `many`."""
        hashes = self.many(files, as_listed)
        text = _listing_text(folder, [p for p, _ in files], hashes)
        made = Listing(Encoded(text, dict(hashes)), sum(size for _, size in hashes),
                       max(size for _, size in hashes))
        self.listings.append((folder, fingerprint, text, digest_bytes(text.encode()),
                              dumps(made.files.blobs), made.size, made.largest,
                              dumps(self.store.where_held(made.files.blobs))))
        return made

    def flush(self) -> None:
        self.store.index().remember([(p, st, h) for p, (st, h) in self.remembered.items()], self.listings)
        self.remembered.clear()
        self.listings.clear()
        self.held.clear()  # the next capture looks again: a job's Copier may live for hours


def folder_fingerprint(folder: str, files: list[tuple[str, Stat]]) -> str:
    """The fingerprint `find` gives `folder` when its files stat as `files` do: what
    changes when any file is changed, added, removed or replaced (the ctime, which no
    `touch` can set back, included)."""
    return fingerprint(records_of(folder, files))


_by_name = attrgetter("name")
_by_path = itemgetter(0)


def walk_files(root: str, limit: int) -> list[tuple[str, os.stat_result]]:
    """Regular files under `root` (links not followed), at most `limit` of them.

    The one `lstat` per file is most of a second capture of an unchanged folder, so
    this loop stays plain."""
    found: list[tuple[str, os.stat_result]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        entries.sort(key=_by_name)
        for entry in entries:
            if not is_text(entry.name):  # no manifest could name it (`document.is_text`)
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                if len(found) >= limit:
                    return found
                found.append((entry.path, entry.stat(follow_symlinks=False)))
    return found


def _relative(root: str, path: str) -> str:
    # `path` came from walking `root`: slicing is exact, and os.path.relpath is slow
    # enough to matter over 10,000 files.
    prefix = root.rstrip(os.sep) + os.sep
    return path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, root)


def _file_ref(root: str, path: str, size: int, digest: str | None) -> dict[str, Any]:
    return {"path": _relative(root, path), "size": size, "sha256": digest, "copied": digest is not None}


def _listing_text(root: str, paths: list[str], hashes: list[tuple[str, int]]) -> str:
    """The JSON of the records of `paths` (under `root`), copied with `hashes`: what
    `dumps` writes of their `_file_ref`s, formatted directly (~4x faster: ~8 ms for
    10,000 files here, against ~30)."""
    return "[" + ",".join(
        f'{{"path":{encode_basestring_ascii(_relative(root, path))},"size":{size},"sha256":"{digest}",'
        '"copied":true}'
        for path, (digest, size) in zip(paths, hashes)
    ) + "]"


def capture_input(path: str, how: str, copier: Copier, budget: Budget) -> dict[str, Any] | None:
    """One input record; None for paths that are gone or not regular files/folders."""
    if not is_text(path):  # no manifest could name it
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return _capture_folder(path, how, copier, budget)
    if not stat.S_ISREG(st.st_mode):
        return None
    if budget.take(st.st_size):
        digest, size = copier.one(path, st)
        return {"path": path, "kind": "file", "how": how, "size": size, "sha256": digest}
    return {"path": path, "kind": "file", "how": how, "size": st.st_size, "copied": False}


def _capture_folder(path: str, how: str, copier: Copier, budget: Budget) -> dict[str, Any]:
    """A folder input: its records reused whole when it is unchanged since a capture
    into the same store, else listed (by `find` at the failure, or walked now) and
    copied file by file within the budget."""
    scan = copier.scans.get(path)  # the agent stops or closes every scan when done
    # With a `find` running, the remembered listing is checked meanwhile; else after the
    # walk, and only if the walk's fingerprint is the one it was remembered at.
    recalled = copier.recalled(path) if scan is not None else None
    scanned = scan.result() if scan is not None else None
    if scanned is not None:
        kept = _at(recalled, scanned)
        if kept is not None and budget.take_all(kept.size, kept.largest):
            return _whole_folder(path, how, kept)
        listed = scan.files()  # type: ignore[union-attr]
        if listed is not None:
            left = budget.left
            try:
                return _copy_folder(path, how, copier, budget, listed, scanned, as_listed=True)
            except (FileChanged, FileNotFoundError):  # since `find` listed it: walk now
                budget.left = left  # (files copied as listed, unchanged since, are not copied again)
    files = sorted(walk_files(path, MAX_INPUT_FILES), key=_by_path)  # as `find`'s are
    # The records are remembered under the fingerprint of the very listing they come
    # from, never under another's: after a walk, not under the scan's (a file added
    # between the two and deleted later would come back).
    walked = folder_fingerprint(path, files)
    if scan is None:
        recalled = copier.recalled(path, walked)
    return _copy_folder(path, how, copier, budget, files, walked, kept=_at(recalled, walked))


def _at(recalled: tuple[str, Listing] | None, fingerprint: str) -> Listing | None:
    """The recalled listing, if it was remembered at `fingerprint`."""
    return recalled[1] if recalled is not None and recalled[0] == fingerprint else None


def _copy_folder(path: str, how: str, copier: Copier, budget: Budget, files: list[tuple[str, Stat]],
                 fingerprint: str, kept: Listing | None = None, as_listed: bool = False) -> dict[str, Any]:
    """The record of folder `path` holding `files`, which have `fingerprint`: whole
    (`kept`, the listing remembered at that fingerprint, else copied) if the budget
    takes it all, else the files that fit. `as_listed`: raise `FolderChanged` unless every
    file is copied at its listed size."""
    sizes = [s.st_size for _, s in files]
    if files and budget.take_all(sum(sizes), max(sizes)):
        return _whole_folder(path, how, kept or copier.listing(path, fingerprint, files, as_listed))
    copy = [(p, s) for p, s in files if budget.take(s.st_size)]
    chosen = {p for p, _ in copy}
    hashes = dict(zip([p for p, _ in copy], copier.many(copy, as_listed)))
    # A copied file's record has the size copied (its blob's), which a file changed since
    # it was listed no longer shares with its listing.
    refs = []
    for p, s in files:
        digest, size = hashes[p] if p in chosen else (None, s.st_size)
        refs.append(_file_ref(path, p, size, digest))
    return {"path": path, "kind": "dir", "how": how, "size": sum(r["size"] for r in refs),
            "copied": len(chosen) == len(files), "files": refs}


_STOPPED = RuntimeError("the copy was stopped")
"""What `Copier._copy` tells its threads on its way out."""


class FolderChanged(FileChanged):
    """A file was copied at another size than it was listed with (it changed since)."""


def _texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _facts(st: Stat) -> tuple[int, int, int, int, int]:
    """What a file's hash is remembered by (as the index keeps it)."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _whole_folder(path: str, how: str, listing: Listing) -> dict[str, Any]:
    return {"path": path, "kind": "dir", "how": how, "size": listing.size, "copied": True,
            "files": listing.files}


def is_candidate_input(path: str, exclude_roots: tuple[str, ...]) -> bool:
    """An opened file counts as an input unless it is code, a library or system file."""
    if path.startswith(SYSTEM_PREFIXES) or is_library_file(path):
        return False
    if path.endswith((".py", ".pyc", ".pth", ".so")):
        return False
    return not path.startswith(exclude_roots)


def capture_sources(root: str, copier: Copier, max_bytes: int, max_files: int,
                    extra: Iterable[str] = ()) -> tuple[list[dict[str, Any]], bool]:
    """The user's source files under `root` (plus `extra` files), hashed and copied."""
    picked: list[tuple[str, os.stat_result]] = []
    used = 0
    truncated = False
    for path, st in walk_files(root, max_files * 4):
        if os.path.splitext(path)[1] not in SOURCE_SUFFIXES or is_library_file(path):
            continue
        if st.st_size > 2 << 20 or used + st.st_size > max_bytes or len(picked) >= max_files:
            truncated = True
            continue
        used += st.st_size
        picked.append((path, st))
    refs = [
        _file_ref(root, p, size, digest)
        for (p, _), (digest, size) in zip(picked, copier.many(picked))
    ]
    known = {p for p, _ in picked}
    for path in extra:
        # Not a name no manifest could hold: the index would refuse it too, and with it
        # every hash this capture remembers.
        if is_text(path) and path not in known and path.startswith(root + os.sep) and os.path.isfile(path):
            st = os.stat(path)
            digest, size = copier.one(path, st)
            refs.append(_file_ref(root, path, size, digest))
    return refs, truncated
