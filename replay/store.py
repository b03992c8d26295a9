"""The local capture store: content-addressed blobs, atomically published captures.

Layout under the store root::

    blobs/ab/abcdef...        one file per sha256, shared by every capture
    packs/<16 hex>.pack       many small blobs in one file (`replay.packs`), read in place
    captures/<id>/manifest.json
    index.sqlite              caches of the listing, input hashes and environments; rebuildable
    tmp/                      work in progress; never read as a capture

A blob is written as an unnamed file in `tmp/` and linked into place (or, where the
filesystem has no unnamed files, written under a temporary name and renamed), so a
half-written blob is never visible. The small files of a big folder go into packs,
written the same way and named in `packs/` whole; a packed blob is read where it is.
A capture's manifest is written to a fresh folder under `tmp/` and the folder is
renamed to `captures/<id>`, so a reader sees a whole capture or none, whatever happens
to the writer process. Nothing is fsynced: a sync waits for every dirty page of
the filesystem's journal, which after copying a 1 GiB input doubled the capture's time;
after a power loss a capture may be short, which `replay verify` reports from the
hashes. Everything read back is treated as untrusted.
"""

from __future__ import annotations

import io
import os
import stat

from replay import document, unnamed
from replay.document import HEX_DIGITS, is_capture_id, is_hash
from replay.errors import CaptureNotFound, StoreError, UntrustedCaptureError
from replay.hashing import SMALL, FileChanged, copy_opened_and_hash, hash_bytes, hash_file

TYPE_CHECKING = False  # typing itself costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from collections.abc import Collection, Container, Iterator, Sequence
    from pathlib import Path
    from typing import Any, BinaryIO

    from replay.bundle import Manifest
    from replay.index import Index
    from replay.packs import PackWriter

MAX_MANIFEST = 64 << 20


def _remove_quietly(folder: str) -> None:
    """Best-effort removal of an unpublished capture folder (one flat level)."""
    try:
        for leftover in os.listdir(folder):
            os.unlink(os.path.join(folder, leftover))
        os.rmdir(folder)
    except OSError:
        pass


def _read_whole(fd: int, size: int) -> bytes:
    """All of the open file `fd`, expected to hold `size` bytes: one read when it does.
    A byte more is asked for, so a read that returns `size` bytes has met the end."""
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data
    parts = [data]  # the file grew or shrank since its `fstat`: read to its end
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def resolve_prefix(available: list[str] | tuple[str, ...], prefix: str, where: str) -> str:
    """The one capture id among `available` that starts with `prefix`."""
    p = prefix.strip().lower()
    if not p or p.strip(HEX_DIGITS):
        raise CaptureNotFound(f"{prefix!r} is not a capture id (ids are hex, like 3f9a2c81d0e4)")
    matches = [i for i in available if i.startswith(p)]
    if not matches:
        raise CaptureNotFound(f"no capture {prefix!r} in {where} (see 'replay ls')")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:5])
        raise CaptureNotFound(f"{prefix!r} is ambiguous in {where}: {shown}; give more characters")
    return matches[0]


def default_store_root(env: dict[str, str] | None = None, cwd: str | None = None) -> str:
    """Where captures go when nobody says: the job's auto-uploaded outputs on the cloud
    ML platform (so captures come back with the run), else a project-local `.replay/`."""
    env = os.environ if env is None else env
    cwd = os.getcwd() if cwd is None else cwd
    if env.get("AZUREML_RUN_ID"):
        return os.path.join(cwd, "outputs", ".replay")
    return os.path.join(cwd, ".replay")


REMOTE_SCHEME = "sftp"


def is_remote(spec: str) -> bool:
    """True when a store spec names a remote store (`sftp://...`, or the `ssh://` a user
    may type for it, which the URL parser then explains) rather than a folder.
    (Here, not with the URL parser: a failing job asks this without loading it.)"""
    return spec.startswith((f"{REMOTE_SCHEME}://", "ssh://"))


def resolve_store_spec(spec: str | None) -> str:
    """`--store` beats `REPLAY_STORE` beats the default."""
    return spec or os.environ.get("REPLAY_STORE") or default_store_root()


class LocalStore:
    """A store in a local folder. Safe for many concurrent writers.

    What a capture writes (blobs, the manifest, the index) works on string paths: a
    failing job's agent does not load `pathlib`, which with `urllib.parse` and
    `ipaddress` costs it ~10 ms. The `Path` views are for readers."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.folder = os.path.abspath(root)
        self._blobs = os.path.join(self.folder, "blobs")
        self._captures = os.path.join(self.folder, "captures")
        self._tmp = os.path.join(self.folder, "tmp")
        self._packs = os.path.join(self.folder, "packs")
        self._index: Index | None = None
        self._shards: set[str] = set()
        self._pack_entries: dict[str, dict[str, tuple[int, int]]] = {}
        """The entries of each pack read so far, by name (packs never change), none for
        one that is damaged."""
        self._pack_times: dict[str, int] = {}
        """When each pack seen so far was written, by name."""
        self._located: dict[str, tuple[str, int, int]] = {}
        """Where each blob of the tables read so far is: (pack, offset, size), from the
        newest pack with it. A look-up finds it here; only a miss lists `packs/` again."""

    def __repr__(self) -> str:
        return f"LocalStore({self.folder!r})"

    def __str__(self) -> str:
        return self.folder

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self.folder)

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def captures_dir(self) -> Path:
        return self.root / "captures"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    # -- layout ---------------------------------------------------------------
    def ensure(self) -> None:
        """Create the store's folders; raise StoreError when that is not possible."""
        try:
            for d in (self._blobs, self._packs, self._captures, self._tmp):
                os.makedirs(d, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store at {self.folder}: {exc.strerror or exc}") from exc

    def exists(self) -> bool:
        return os.path.isdir(self._captures)

    def _blob_file(self, digest: str) -> str:
        if not is_hash(digest):
            raise UntrustedCaptureError(f"not a blob hash: {digest[:80]!r}")
        return os.path.join(self._blobs, digest[:2], digest)

    def blob_path(self, digest: str) -> Path:
        from pathlib import Path

        return Path(self._blob_file(digest))

    def _capture_folder(self, capture_id: str) -> str:
        if not is_capture_id(capture_id):
            raise UntrustedCaptureError(f"not a capture id: {capture_id[:40]!r}")
        return os.path.join(self._captures, capture_id)

    def capture_dir(self, capture_id: str) -> Path:
        from pathlib import Path

        return Path(self._capture_folder(capture_id))

    # -- blobs ----------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self._blob_file(digest)) or self._where_packed(digest) is not None

    def _packs_newest_first(self) -> Iterator[tuple[str, dict[str, tuple[int, int]]]]:
        """Each whole pack's path and entries, the newest first, its entry table read
        when first reached: a capture looks for the blobs it or the one before it just
        wrote, and need not read the tables of every pack a store has gathered. A pack
        that is not whole holds nothing (`replay.packs` says why it is read as
        untrusted)."""
        try:
            names = os.listdir(self._packs)
        except OSError:
            return
        from replay import packs

        for name in names:
            if name not in self._pack_times and packs.is_pack_name(name):
                try:
                    self._pack_times[name] = os.stat(os.path.join(self._packs, name)).st_mtime_ns
                except OSError:
                    continue
        for name in sorted(self._pack_times.keys() & set(names), key=self._pack_times.__getitem__,
                           reverse=True):
            path = os.path.join(self._packs, name)
            entries = self._pack_entries.get(name)
            if entries is None:
                try:
                    entries = packs.read_entries(path)
                except UntrustedCaptureError:  # damaged for good: never read again
                    entries = {}
                except OSError:  # unreadable now: perhaps not at the next look
                    continue
                self._know_pack(name, path, entries)
            yield path, entries

    def _know_pack(self, name: str, path: str, entries: dict[str, tuple[int, int]]) -> None:
        self._pack_entries[name] = entries
        for digest, (offset, size) in entries.items():
            self._located.setdefault(digest, (path, offset, size))

    def _named_pack(self, path: str, entries: dict[str, tuple[int, int]]) -> None:
        """What a PackWriter of this store has just named: known without reading it back."""
        name = os.path.basename(path)
        self._pack_times[name] = os.stat(path).st_mtime_ns
        self._know_pack(name, path, dict(entries))

    def _where_packed(self, digest: str) -> tuple[str, int, int] | None:
        """(pack, offset, size) of a packed blob, from the newest pack with it when
        first looked for."""
        if (where := self._located.get(digest)) is not None:
            return where
        for path, entries in self._packs_newest_first():
            if (entry := entries.get(digest)) is not None:
                where = self._located[digest] = (path, *entry)
                return where
        return None

    def where_held(self, digests: Collection[str], limit: int = 100_000) -> tuple[list[str], list[str]]:
        """The packs (by name, newest first) that hold `digests`, and those of `digests`
        none of them holds (blob files, blobs in older packs, or missing). Only tables of
        about `limit` blobs are looked through, as for `recently_packed`."""
        remaining = set(digests)
        names: list[str] = []
        seen = 0
        for path, entries in self._packs_newest_first():
            if not remaining or seen >= limit:
                break
            seen += len(entries)
            hit = remaining & entries.keys()
            if hit:
                names.append(os.path.basename(path))
                remaining -= hit
        return names, sorted(remaining)

    def packs_held(self, names: Sequence[str]) -> bool:
        """Whether the store still has each of these packs. A pack never changes once
        named, so what it held it holds: a second capture checks a few names instead of
        reading tables again and looking up every blob in them (~15 ms for 10,000 blobs
        here, one-off)."""
        from replay.packs import is_pack_name

        for name in names:
            if not is_pack_name(name):
                return False
            try:
                if not stat.S_ISREG(os.stat(os.path.join(self._packs, name)).st_mode):
                    return False
            except OSError:
                return False
        return True

    def _read_packed(self, digest: str) -> bytes | None:
        """A packed blob's bytes (not yet checked against its hash), or None. A pack
        gone since its table was read is forgotten, and the blob looked for anew."""
        for _ in range(2):
            where = self._where_packed(digest)
            if where is None:
                return None
            path, offset, size = where
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                self._forget_pack(path)
                continue
            try:
                return os.pread(fd, size, offset) if stat.S_ISREG(os.fstat(fd).st_mode) else None
            except OSError:
                return None
            finally:
                os.close(fd)
        return None

    def _forget_pack(self, path: str) -> None:
        name = os.path.basename(path)
        self._pack_entries.pop(name, None)
        self._pack_times.pop(name, None)
        self._located = {d: where for d, where in self._located.items() if where[0] != path}

    def new_pack(self, held: Container[str] = ()) -> PackWriter:
        """A writer of one new pack of blobs, for one thread; it skips those in `held`
        (`recently_packed`)."""
        from replay.packs import PackWriter

        return PackWriter(self._tmp, self._packs, held, self._named_pack)

    def recently_packed(self, limit: int = 100_000) -> set[str]:
        """The blobs of the newest packs, about `limit` of them at most: what a new pack
        need not hold again. A folder captured anew with other stats (made again by an
        upstream step, checked out afresh) was most likely packed lately, and reading
        every table would cost each capture in proportion to the store's history (~3 ms
        per 10,000 blobs here, one-off)."""
        found: set[str] = set()
        for _, entries in self._packs_newest_first():
            if len(found) >= limit:
                break
            found.update(entries)
        return found

    def present(self, digests: Collection[str]) -> set[str]:
        """The blobs among `digests` that the store holds. A few are looked for as files
        first (the packs' tables need not be read); past a few hundred, packs are read
        first, then each shard folder that may hold the rest is listed once, cheaper than
        one `stat` per blob."""
        asked = set(digests)
        few = len(asked) < 512
        held = {d for d in asked if os.path.isfile(self._blob_file(d))} if few else set()
        if len(held) < len(asked):
            for _, entries in self._packs_newest_first():
                held.update(asked & entries.keys())
                if len(held) == len(asked):
                    break
        if few:
            return held
        for digest in asked - held:
            if not is_hash(digest):
                raise UntrustedCaptureError(f"not a blob hash: {digest[:80]!r}")
        for shard in {d[:2] for d in asked - held}:
            try:
                held.update(asked.intersection(os.listdir(os.path.join(self._blobs, shard))))
            except OSError:
                continue
        return held

    def _tmp_file(self) -> str:
        return os.path.join(self._tmp, f"blob-{os.getpid()}-{os.urandom(6).hex()}")

    def _place(self, tmp: str, digest: str) -> None:
        final = self._shard(digest)
        if os.path.exists(final):
            _unlink_quietly(tmp)
            return
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)

    def _shard(self, digest: str) -> str:
        """The blob's final path, its shard folder created once per store object."""
        final = self._blob_file(digest)
        if digest[:2] not in self._shards:
            try:
                os.mkdir(os.path.dirname(final))
            except FileExistsError:
                pass
            self._shards.add(digest[:2])
        return final

    def add_bytes(self, data: bytes) -> str:
        """Store `data` as a blob and return its hash.

        The blob is written to an unnamed file (O_TMPFILE) and linked into place whole:
        one directory entry per blob instead of a temporary name and a rename, which is
        what file creation costs most on a busy disk. Content the store holds already
        is found by the link failing, not by a look-up first: a capture's new files
        would each pay for that look-up (6 % of a first capture of 10,000 files here,
        one-off), a repeated blob only for writing its bytes to a file never named
        (and if that write fails, a full disk say, the blob in place stands)."""
        digest = hash_bytes(data)
        final = self._shard(digest)
        fd = unnamed.open_unnamed(self._tmp)
        if fd is None:
            if not os.path.isfile(final):  # here a copy would cost a named file: look first
                self._add_named(data, digest)
            return digest
        try:
            unnamed.write_all(fd, data)
            unnamed.name(fd, final)
        except FileExistsError:
            pass  # the store holds this content (an earlier capture's, or another writer's)
        except OSError:
            if not os.path.isfile(final):
                raise
        finally:
            os.close(fd)
        return digest

    def _add_named(self, data: bytes, digest: str) -> None:
        tmp = self._tmp_file()
        try:
            with open(tmp, "xb") as f:
                f.write(data)
            self._place(tmp, digest)
        finally:
            _unlink_quietly(tmp)  # gone already once placed

    def add_file(self, src: str | os.PathLike[str], pack: PackWriter | None = None) -> tuple[str, int]:
        """Copy a regular file into the store as a blob, into `pack` if it is small;
        return (hash, size). Opened without blocking: a file replaced by a FIFO since it
        was listed is refused (`FileChanged`) rather than waited on. A small file costs
        four system calls (a file object reading it costs seven), which over 10,000 files
        is ~10 % of the copy."""
        fd = os.open(src, os.O_RDONLY | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileChanged(f"{os.fspath(src)!r} is no longer a regular file")
            if st.st_size <= SMALL:
                data = _read_whole(fd, st.st_size)
                if pack is not None and len(data) <= SMALL:  # not if it grew past since
                    return pack.add(data), len(data)
                return self.add_bytes(data), len(data)
            tmp = self._tmp_file()
            try:
                with open(fd, "rb", buffering=0, closefd=False) as f:
                    digest, size = copy_opened_and_hash(f, tmp, os.fspath(src))
                self._place(tmp, digest)
            finally:
                _unlink_quietly(tmp)
        finally:
            os.close(fd)
        return digest, size

    def add_stream(self, stream: BinaryIO, expected: str | None = None) -> tuple[str, int]:
        """Store what `stream` yields; with `expected`, refuse content of another hash."""
        import hashlib

        tmp = self._tmp_file()
        h = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "xb") as f:
                while chunk := stream.read(1 << 20):
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
            digest = h.hexdigest()
            if expected is not None and digest != expected:
                raise UntrustedCaptureError(f"blob {expected[:12]} arrived with hash {digest[:12]}")
            self._place(tmp, digest)
        finally:
            _unlink_quietly(tmp)
        return digest, size

    def open_blob(self, digest: str) -> BinaryIO:
        """A blob's bytes, from its file or its pack (read whole: packed blobs are small).
        Not checked against the hash: each reader hashes what it reads."""
        try:
            fd = os.open(self._blob_file(digest), os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            data = self._read_packed(digest)
            if data is None:
                raise UntrustedCaptureError(f"blob {digest[:12]} is missing from {self.folder}") from None
            return io.BytesIO(data)
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO put there is not waited on
            os.close(fd)
            raise UntrustedCaptureError(f"blob {digest[:12]} in {self.folder} is not a regular file")
        return open(fd, "rb")

    def blob_size(self, digest: str) -> int | None:
        """A blob's size, None when the store lacks it."""
        try:
            return os.stat(self._blob_file(digest)).st_size
        except FileNotFoundError:
            where = self._where_packed(digest)
            return None if where is None else where[2]

    def copy_blob(self, digest: str, target: str | os.PathLike[str]) -> None:
        """Copy a blob to `target` (replacing it), refusing a blob that is missing or of
        another hash: a replay rebuilds its files from a store it does not trust."""
        from pathlib import Path

        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # an earlier replay's copy
        with self.open_blob(digest) as f:
            # Read once, hashed and written from memory, when small (a packed blob always is).
            if isinstance(f, io.BytesIO) or os.fstat(f.fileno()).st_size <= SMALL:
                data = f.read()
                actual = hash_bytes(data)
                if actual == digest:
                    target.write_bytes(data)
            else:
                actual = copy_opened_and_hash(f, target, self._blob_file(digest))[0]
        if actual != digest:
            target.unlink(missing_ok=True)
            raise UntrustedCaptureError(f"blob {digest[:12]} does not match its hash")

    def read_blob(self, digest: str, limit: int = MAX_MANIFEST) -> bytes:
        """Read a blob fully, refusing blobs larger than `limit` or of another hash."""
        with self.open_blob(digest) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise UntrustedCaptureError(f"blob {digest[:12]} is larger than {limit} bytes")
        if hash_bytes(data) != digest:
            raise UntrustedCaptureError(f"blob {digest[:12]} does not match its hash")
        return data

    def check_blob(self, digest: str) -> str | None:
        """Return a problem description, or None when the blob is whole."""
        path = self._blob_file(digest)
        if os.path.isfile(path):
            actual = hash_file(path)[0]
        elif (data := self._read_packed(digest)) is not None:
            actual = hash_bytes(data)
        else:
            return f"blob {digest} is missing"
        return None if actual == digest else f"blob {digest} does not match its hash"

    # -- captures -------------------------------------------------------------
    @staticmethod
    def new_id() -> str:
        return os.urandom(6).hex()

    def publish(self, manifest: Manifest) -> None:
        """Publish a validated capture atomically. Its blobs must already be in the store."""
        self.publish_document(manifest.model_dump(mode="json"))

    def publish_document(self, doc: dict[str, Any], held: Collection[str] = ()) -> None:
        """Publish a manifest given as plain JSON data (the agent's way: no pydantic on
        a job's failure path; every reader validates it). Blobs must be in the store;
        those in `held` the caller has just written or found there."""
        self.ensure()
        capture_id = str(doc["id"])
        needed = document.blob_sizes(doc).keys() - held
        for digest in sorted(needed - self.present(needed))[:1]:
            raise StoreError(f"cannot publish {capture_id}: blob {digest[:12]} missing")
        payload = document.encode(doc)
        final = self._capture_folder(capture_id)
        work = os.path.join(self._tmp, f"cap-{capture_id}-{os.urandom(4).hex()}")
        try:
            os.mkdir(work, 0o700)
            with open(os.path.join(work, "manifest.json"), "wb") as f:
                f.write(payload)
            os.chmod(work, 0o755)
            os.rename(work, final)
        except OSError as exc:
            _remove_quietly(work)
            raise StoreError(f"cannot publish capture {capture_id}: {exc.strerror or exc}") from exc
        self.index().add_rows([document.summary(doc)])

    def publish_raw(self, capture_id: str, payload: bytes, manifest: Manifest | None = None) -> Manifest:
        """Publish manifest bytes that came from elsewhere, validated first unless the
        caller did (`manifest`, from `parse_published` of these bytes)."""
        manifest = manifest or self.parse_published(capture_id, payload)
        if not self.capture_dir(capture_id).exists():
            normal = manifest.model_dump(mode="json")
            self.publish_document(normal)
            # The bytes published (normal form, not `payload`) go into this user's
            # validation cache: the first replay of a fetched or imported capture does
            # not validate them again.
            from replay import validated

            validated.load(self.manifest_bytes(capture_id), lambda _: normal)
        return manifest

    def ids(self) -> list[str]:
        """Published capture ids, read from the folder (the source of truth)."""
        try:
            names = os.listdir(self._captures)
        except FileNotFoundError:
            return []
        return [n for n in names if is_capture_id(n)]

    def resolve(self, prefix: str) -> str:
        """Turn a unique id prefix into the capture id."""
        return resolve_prefix(self.ids(), prefix, self.folder)

    @staticmethod
    def parse_manifest(payload: bytes, origin: str) -> Manifest:
        from pydantic import ValidationError

        from replay.bundle import Manifest

        if len(payload) > MAX_MANIFEST:
            raise UntrustedCaptureError(f"{origin}: manifest larger than {MAX_MANIFEST} bytes")
        try:
            return Manifest.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "manifest"
            raise UntrustedCaptureError(
                f"{origin}: invalid manifest at {where}: {first.get('msg', 'invalid')}"
                f" ({exc.error_count()} problem(s))"
            ) from None

    def manifest_bytes(self, capture_id: str) -> bytes:
        """One capture's manifest as stored: a regular file, else it is refused."""
        path = self.capture_dir(capture_id) / "manifest.json"
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise CaptureNotFound(f"capture {capture_id} has no manifest in {self.folder}") from None
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedCaptureError(f"{capture_id}: manifest.json is not a regular file")
        too_big = UntrustedCaptureError(f"{capture_id}: manifest larger than {MAX_MANIFEST} bytes")
        if st.st_size > MAX_MANIFEST:  # refused before it is read
            raise too_big
        with open(path, "rb") as f:
            payload = f.read(MAX_MANIFEST + 1)
        if len(payload) > MAX_MANIFEST:  # it grew since
            raise too_big
        return payload

    @staticmethod
    def _check_owner(capture_id: str, named: object, origin: str | None = None) -> None:
        if named != capture_id:
            raise UntrustedCaptureError(f"{origin or 'capture folder'}: capture {capture_id} holds manifest {named}")

    @classmethod
    def parse_published(cls, capture_id: str, payload: bytes, origin: str | None = None) -> Manifest:
        """Validate the bytes published (or to be published) as `capture_id`."""
        manifest = cls.parse_manifest(payload, origin=origin or capture_id)
        cls._check_owner(capture_id, manifest.id, origin)
        return manifest

    def load(self, capture_id: str) -> Manifest:
        """Read and validate one capture's manifest."""
        return self.parse_published(capture_id, self.manifest_bytes(capture_id))

    def load_document(self, capture_id: str) -> dict[str, Any]:
        """One capture's manifest as validated plain JSON data in normal form (every field
        present), checked as `load` checks it. Bytes this user validated before are not
        checked again (`replay.validated`). Others are checked by the standard-library
        reading of the models' schema (`replay.schema`), and by pydantic only where that
        defers, which spares a replay 250-300 ms."""
        from replay import schema, validated

        def check(payload: bytes) -> dict[str, Any]:
            doc = schema.validate(payload, origin=capture_id)
            if doc is None:
                return self.parse_manifest(payload, origin=capture_id).model_dump(mode="json")
            return doc

        doc = validated.load(self.manifest_bytes(capture_id), check)
        self._check_owner(capture_id, doc["id"])
        return doc


    def verify(self, capture_id: str) -> list[str]:
        """Every problem with a capture: schema, missing blobs, wrong hashes."""
        try:
            manifest = self.load(capture_id)
        except UntrustedCaptureError as exc:
            return [str(exc)]
        return [p for digest, _ in manifest.blobs() if (p := self.check_blob(digest))]

    # -- index ----------------------------------------------------------------
    def index(self) -> Index:
        if self._index is None:
            from replay.index import Index

            self._index = Index(os.path.join(self.folder, "index.sqlite"))
        return self._index

    def list(self) -> list[dict[str, Any]]:
        """Summaries of every capture, newest first; the index is repaired as needed."""
        if not self.exists():
            return []
        return self.index().listing(self)

    def list_rows(self, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """`list` as tuples of `columns` (among `replay.index.COLUMNS`, "id" first): no
        dict per capture, for callers that list 10,000s at once (the TUI's start-up)."""
        if not self.exists():
            return []
        return self.index().rows(self, columns)

    def with_side_files(self) -> set[str]:
        """The captures that have side files (`write_json`), from one folder listing
        rather than a lookup per capture: most captures of a big store have none."""
        try:
            return set(os.listdir(os.path.join(self.folder, "replays")))
        except OSError:
            return set()

    def write_json(self, capture_id: str, name: str, data: Any) -> None:
        """Attach a small side file to a capture (replay verdicts); not part of the hash."""
        import json

        folder = self.root / "replays" / capture_id
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.{os.urandom(4).hex()}"
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, folder / name)

    def read_json(self, capture_id: str, name: str) -> Any:
        import json

        path = self.root / "replays" / capture_id / name
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None
