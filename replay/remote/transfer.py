"""Fetch captures into the local store, and push them to a remote one.

Both directions follow the store's rules: content-addressed (only blobs the other side
lacks move), verified (every blob is hashed as it moves; a mismatch is refused and the
bad copy discarded), resumable (a blob stops in a `.part` file named by its hash and an
interrupted transfer continues from its end), and atomic (blobs become visible only by
rename, and a capture's manifest is published last, after all of its blobs).

The seam: a fetch reads from a `CaptureSource`, which is either a folder laid out as a
store (a job's outputs, copied or mounted) or an `SFTPStore`. Both hand bytes to the
same `IncomingBlob`s, so verification and resumption live here once. paramiko is
imported only when a URL needs it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, Protocol

from replay.errors import (
    ReplayError,
    StoreError,
    UntrustedCaptureError,
    UsageError,
)
from replay.remote.progress import ProgressCallback, TransferStats
from replay.remote.url import is_remote
from replay.store import LocalStore, is_capture_id, resolve_prefix
from replay.unnamed import write_all

if TYPE_CHECKING:
    from replay.bundle import Manifest
    from replay.remote.options import SSHOptions
    from replay.remote.sftp_store import SFTPStore

CHUNK = 1 << 20
PART_SUFFIX = ".part"


class IncomingBlob(Protocol):
    """A blob arriving into the local store; sources write it from `offset` on."""

    digest: str
    size: int | None
    offset: int

    def write(self, data: memoryview) -> None: ...

    def finish(self, end: int) -> None: ...

    def close(self) -> None: ...


class OutgoingBlob(Protocol):
    """A local blob being sent, read from `offset` on."""

    digest: str
    size: int
    offset: int

    def read(self, n: int) -> bytes: ...

    def sent(self, n: int) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


class CaptureSource(Protocol):
    """Somewhere captures can be fetched from: a store folder or an SFTP store."""

    @property
    def location(self) -> str: ...

    def ids(self) -> list[str]: ...

    def manifests(self, ids: Iterable[str]) -> dict[str, bytes]: ...

    def pull(self, blobs: Iterable[IncomingBlob]) -> dict[str, ReplayError]:
        """Feed each blob from its offset and finish it; return failures by hash."""
        ...

    def close(self) -> None: ...


@dataclass
class TransferReport:
    """What a fetch or push did; `replay fetch --json` prints it."""

    source: str
    destination: str
    transferred: list[str] = field(default_factory=list)
    """Captures published at the destination by this transfer."""
    present: list[str] = field(default_factory=list)
    """Captures the destination already had: nothing moved for them."""
    blobs: int = 0
    bytes: int = 0
    bytes_resumed: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Meter:
    """Counts progress and tells the caller's callback about it."""

    def __init__(self, stats: TransferStats, callback: ProgressCallback | None) -> None:
        self.stats = stats
        self.callback = callback

    def moved(self, n: int) -> None:
        self.stats.bytes_done += n
        if self.callback is not None:
            self.callback(self.stats)

    def file_done(self) -> None:
        self.stats.files_done += 1
        if self.callback is not None:
            self.callback(self.stats)


class _Incoming:
    """A blob arriving as `tmp/<sha256>.part` in the local store.

    The part is locked (so two fetches into one store cannot interleave writes), and
    whatever an interrupted fetch left in it is hashed first, so the blob is verified
    whole at the end. A verified part is made read-only and renamed into `blobs/`; a
    part that fails verification is deleted, so a damaged copy cannot poison a retry.
    """

    def __init__(
        self, store: LocalStore, digest: str, size: int | None, origin: str, meter: _Meter
    ) -> None:
        self.digest, self.size, self.origin, self.meter = digest, size, origin, meter
        self.path = store.tmp_dir / f"{digest}{PART_SUFFIX}"
        self.final = store.blob_path(digest)
        self.hash = hashlib.sha256()
        self.installed = False
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.offset = self._hash_existing()
        except BlockingIOError:
            self.close()
            raise StoreError(
                f"another fetch is downloading blob {digest[:12]} into {store.root}; let it finish"
            ) from None
        except BaseException:
            self.close()
            raise
        meter.stats.bytes_resumed += self.offset

    def _hash_existing(self) -> int:
        have = os.fstat(self.fd).st_size
        if self.size is not None and have > self.size:
            os.ftruncate(self.fd, 0)
            return 0
        left = have
        while left:
            chunk = os.read(self.fd, min(CHUNK, left))
            if not chunk:
                break
            self.hash.update(chunk)
            left -= len(chunk)
        return have - left

    def write(self, data: memoryview) -> None:
        self.hash.update(data)
        try:
            write_all(self.fd, data)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.meter.moved(len(data))

    def finish(self, end: int) -> None:
        if self.size is not None and end != self.size:
            self._reject(f"ended after {end} of its {self.size} bytes")
        got = self.hash.hexdigest()
        if got != self.digest:
            self._reject(f"has the hash {got[:12]}…")
        try:
            os.fchmod(self.fd, 0o444)
            os.replace(self.path, self.final)
        except OSError as exc:
            raise StoreError(f"cannot store blob {self.final}: {exc.strerror or exc}") from exc
        self.installed = True
        self.meter.file_done()

    def _reject(self, problem: str) -> NoReturn:
        """Empty the part (so `close` removes it) and refuse the blob."""
        os.ftruncate(self.fd, 0)
        raise UntrustedCaptureError(
            f"blob {self.digest[:12]}… from {self.origin} {problem}: the copy there is damaged "
            "or was altered, so it was not stored"
        )

    def close(self) -> None:
        """Release the part; an empty one (nothing arrived, or discarded) is removed."""
        if self.fd < 0:
            return
        if not self.installed and os.fstat(self.fd).st_size == 0:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1


class _Outgoing:
    """A local blob read for upload, hashed as it is read (from byte 0, even when the
    upload resumes later on), so a damaged local copy fails before its remote rename."""

    def __init__(
        self, store: LocalStore, digest: str, size: int, offset: int, meter: _Meter
    ) -> None:
        self.store, self.meter = store, meter
        self.digest, self.size, self.offset = digest, size, offset
        self.hash = hashlib.sha256()
        self.file: BinaryIO | None = None
        meter.stats.bytes_resumed += offset

    def _open(self) -> BinaryIO:
        if self.file is None:
            self.file = self.store.open_blob(self.digest)
            left = self.offset
            while left and (chunk := self.file.read(min(CHUNK, left))):
                self.hash.update(chunk)
                left -= len(chunk)
        return self.file

    def read(self, n: int) -> bytes:
        data = self._open().read(n)
        self.hash.update(data)
        return data

    def sent(self, n: int) -> None:
        self.meter.moved(n)

    def finish(self) -> None:
        self._open()
        if self.hash.hexdigest() != self.digest:
            raise UntrustedCaptureError(
                f"local blob {self.digest[:12]}… in {self.store.root} does not match its hash;"
                " run 'replay verify' on the capture"
            )
        self.meter.file_done()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class FolderSource:
    """A store folder as a fetch source: a job's outputs, downloaded or mounted."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.store = LocalStore(root)

    @property
    def location(self) -> str:
        return str(self.store.root)

    def ids(self) -> list[str]:
        if not self.store.exists():
            raise StoreError(f"{self.location} is not a replay store (no captures/ folder in it)")
        return sorted(self.store.ids())

    def manifests(self, ids: Iterable[str]) -> dict[str, bytes]:
        try:
            return {i: self.store.manifest_bytes(i) for i in ids}
        except OSError as exc:
            raise StoreError(
                f"cannot read a manifest in {self.location}: {exc.strerror or exc}"
            ) from exc

    def pull(self, blobs: Iterable[IncomingBlob]) -> dict[str, ReplayError]:
        failures: dict[str, ReplayError] = {}
        for blob in blobs:
            try:
                self._copy(blob)
            except ReplayError as exc:
                failures[blob.digest] = exc
            finally:
                blob.close()
        return failures

    def _copy(self, blob: IncomingBlob) -> None:
        pos = blob.offset
        with self.store.open_blob(blob.digest) as f:
            f.seek(pos)
            while blob.size is None or pos < blob.size:
                chunk = f.read(CHUNK if blob.size is None else min(CHUNK, blob.size - pos))
                if not chunk:
                    break
                blob.write(memoryview(chunk))
                pos += len(chunk)
        blob.finish(pos)

    def close(self) -> None:
        return None


def open_source(spec: str, options: SSHOptions | None = None) -> CaptureSource:
    """The source named by `spec`: an `sftp://` URL (connects now) or a store folder."""
    if is_remote(spec):
        from replay.remote.sftp_store import SFTPStore

        return SFTPStore.connect(spec, options)
    if "://" in spec:
        raise UsageError(f"{spec!r}: fetch reads from sftp://[user@]host[:port]/path or a folder")
    return FolderSource(Path(spec))


def resolve_prefixes(available: Sequence[str], prefixes: Sequence[str], where: str) -> list[str]:
    """The capture ids that unique prefixes name, in the order given."""
    chosen: list[str] = []
    for prefix in prefixes:
        found = resolve_prefix(list(available), prefix, where)
        if found not in chosen:
            chosen.append(found)
    return chosen


def _fail(problems: dict[str, ReplayError], held_back: list[str]) -> ReplayError:
    """One error for a transfer with failures: the first problem, a count, what is held back."""
    first = next(iter(problems.values()))
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    held = f"; not published: {', '.join(held_back)}" if held_back else ""
    return type(first)(f"{first}{more}{held}")


def fetch(
    source: str,
    store: LocalStore,
    ids: Sequence[str] | None = None,
    *,
    options: SSHOptions | None = None,
    progress: ProgressCallback | None = None,
) -> TransferReport:
    """Copy captures (all, or those whose id prefixes are given) from `source` into `store`.

    `source` is `sftp://[user@]host[:port]/path` or a store folder. Captures the store
    has already are skipped without reading anything else; when every id asked for is a
    full id the store has, the source is not even contacted (a published capture is
    immutable and whole). Captures whose blobs all arrived verified are published even
    when others failed; the failures are then raised together. Interrupting leaves
    `.part` files that the next fetch resumes.
    """
    began = time.monotonic()
    store.ensure()
    if ids and all(is_capture_id(i) and store.capture_dir(i).is_dir() for i in ids):
        report = TransferReport(source, str(store.root), present=list(dict.fromkeys(ids)))
        return _done(report, TransferStats(), began)
    meter = _Meter(TransferStats(), progress)
    with closing(open_source(source, options)) as src:
        report = TransferReport(src.location, str(store.root))
        available = src.ids()
        wanted = resolve_prefixes(available, ids, src.location) if ids else available
        local = set(store.ids())
        report.present = [i for i in wanted if i in local]
        payloads = src.manifests(i for i in wanted if i not in local)
        manifests = {i: LocalStore.parse_published(i, payload, f"{src.location}: capture {i}")
                     for i, payload in payloads.items()}
        problems = _pull(src, store, manifests.values(), meter)
    held_back = []
    for capture_id, manifest in manifests.items():
        if not any(d in problems for d, _ in manifest.blobs()):
            store.publish_raw(capture_id, payloads[capture_id], manifest)
            report.transferred.append(capture_id)
        else:
            held_back.append(capture_id)
    _done(report, meter.stats, began)
    if problems:
        raise _fail(problems, held_back)
    return report


def _pull(
    src: CaptureSource, store: LocalStore, manifests: Iterable[Manifest], meter: _Meter
) -> dict[str, ReplayError]:
    """Bring every blob these captures name and the store lacks; failures by hash."""
    named = {d: s for m in manifests for d, s in m.blobs()}
    held = store.present(named)
    needed = {d: s for d, s in named.items() if d not in held}
    for prefix in {d[:2] for d in needed}:
        (store.blobs_dir / prefix).mkdir(exist_ok=True)
    meter.stats.files_total = len(needed)
    meter.stats.bytes_total = sum(s for s in needed.values() if s > 0)
    opened: list[_Incoming] = []

    def incoming() -> Iterator[_Incoming]:
        for digest, size in needed.items():
            blob = _Incoming(store, digest, size if size >= 0 else None, src.location, meter)
            opened.append(blob)
            yield blob

    try:
        return src.pull(incoming())
    finally:
        for blob in opened:
            blob.close()


def _done(report: TransferReport, stats: TransferStats, began: float) -> TransferReport:
    report.blobs, report.bytes = stats.files_done, stats.bytes_done
    report.bytes_resumed = stats.bytes_resumed
    report.seconds = time.monotonic() - began
    return report


def push(
    store: LocalStore,
    capture_id: str,
    url: str,
    *,
    options: SSHOptions | None = None,
    progress: ProgressCallback | None = None,
) -> TransferReport:
    """Publish one local capture (an id prefix) to the store at `url` (`sftp://…`).

    Only blobs the remote store lacks (or holds with a wrong size) are uploaded; an
    upload interrupted earlier resumes from its `tmp/<hash>.part`. Every blob is
    hashed as it is read here, and the manifest is published last, atomically.
    """
    from replay.remote.sftp_store import SFTPStore

    began = time.monotonic()
    capture_id = store.resolve(capture_id)
    payload = store.manifest_bytes(capture_id)
    manifest = store.parse_published(capture_id, payload)  # what is pushed is what was checked
    sizes = {d: s if s >= 0 else _local_size(store, d) for d, s in manifest.blobs()}
    meter = _Meter(TransferStats(), progress)
    with SFTPStore.connect(url, options) as remote:
        report = TransferReport(str(store.root), remote.location)
        remote.ensure()
        if remote.has_capture(capture_id):
            report.present.append(capture_id)
        else:
            problems = _push_blobs(store, remote, sizes, meter)
            if problems:
                raise _fail(problems, [capture_id])
            published = remote.publish(capture_id, payload)
            (report.transferred if published else report.present).append(capture_id)
    return _done(report, meter.stats, began)


def _push_blobs(
    store: LocalStore, remote: SFTPStore, sizes: dict[str, int], meter: _Meter
) -> dict[str, ReplayError]:
    """Upload the blobs the remote store lacks, resuming partial ones; failures by hash."""
    from replay.remote.errors import RemotePathMissing

    missing = sorted(remote.missing_blobs(sizes))
    partial = remote.partial_uploads() if missing else {}
    for digest in [d for d in missing if partial.get(d, 0) > sizes[d]]:
        remote.discard_part(digest)
        del partial[digest]
    remote.make_blob_dirs(missing)
    meter.stats.files_total = len(missing)
    meter.stats.bytes_total = sum(sizes[d] - partial.get(d, 0) for d in missing)
    opened: list[_Outgoing] = []

    def outgoing() -> Iterator[_Outgoing]:
        for digest in missing:
            blob = _Outgoing(store, digest, sizes[digest], partial.get(digest, 0), meter)
            opened.append(blob)
            yield blob

    try:
        problems = remote.push(outgoing())
    finally:
        for blob in opened:
            blob.close()
    if any(isinstance(e, RemotePathMissing) for e in problems.values()):
        # A concurrent push of the same blob renamed the shared part first: fine if it landed.
        landed = set(problems) - remote.missing_blobs({d: sizes[d] for d in problems})
        problems = {d: e for d, e in problems.items() if d not in landed}
    return problems


def _local_size(store: LocalStore, digest: str) -> int:
    size = store.blob_size(digest)
    if size is None:
        raise UntrustedCaptureError(
            f"blob {digest[:12]}… is missing from {store.root}; run 'replay verify'"
        )
    return size
