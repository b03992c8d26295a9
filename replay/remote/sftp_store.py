"""A capture store on an SFTP server, laid out exactly like `replay.store.LocalStore`.

    <root>/blobs/ab/<sha256>          content-addressed, read-only once in place
    <root>/packs/<16 hex>.pack        many small blobs in one file (`replay.packs`)
    <root>/captures/<id>/manifest.json
    <root>/tmp/                       uploads in progress; never read as a capture

The same atomic rules hold remotely: a blob is uploaded to `tmp/<sha256>.part` and
renamed into `blobs/` (POSIX rename, so a reader sees the whole blob or none); a
manifest is written into a fresh `tmp/cap-<id>-<random>/` folder that is then renamed to
`captures/<id>` (a plain SFTP rename, which refuses to replace), and only after every
blob it names is in place. A reader listing `captures/` on that server never sees a
capture that is not whole.

A capture agent writes small blobs into packs, so a fetch reads a blob from its pack
when one lists it, in place (a job's store may be read-only); a push writes only blob
files.

This is the SFTP side of the seam in `replay.remote.transfer`: a `CaptureSource` for
fetch, and the destination of push. Every network error leaves as a `RemoteError`.
"""

from __future__ import annotations

import itertools
import posixpath
import secrets
from collections.abc import Iterable, Iterator

from replay.errors import ReplayError, StoreError, UntrustedCaptureError
from replay.packs import TRAILER, is_pack_name, parse_table, table_span
from replay.remote.errors import RemotePathMissing
from replay.remote.options import SSHOptions
from replay.remote.sftp import SFTPClient
from replay.remote.sftp_jobs import (
    BytesSink,
    BytesSource,
    Download,
    ListDir,
    Upload,
    listdir,
    mkdirs,
    remove,
    rename,
    rmdir,
    stat,
)
from replay.remote.ssh import SSHConnection, connect
from replay.remote.transfer import PART_SUFFIX, IncomingBlob, OutgoingBlob
from replay.remote.url import StoreURL, parse_store_url
from replay.store import MAX_MANIFEST, is_capture_id, is_hash


class SFTPStore:
    """A remote store reached over one SSH connection and one pipelined SFTP session."""

    def __init__(self, url: StoreURL, connection: SSHConnection, sftp: SFTPClient) -> None:
        self.url = url
        self.root = url.path
        self.connection = connection
        self.sftp = sftp

    @classmethod
    def connect(cls, url: str | StoreURL, options: SSHOptions | None = None) -> SFTPStore:
        """Connect (verifying the host key) and start SFTP; nothing is read yet."""
        parsed = parse_store_url(url) if isinstance(url, str) else url
        connection = connect(parsed.target, options)
        try:
            sftp = SFTPClient.open(connection)
        except BaseException:
            connection.close()
            raise
        return cls(parsed, connection, sftp)

    @property
    def location(self) -> str:
        return str(self.url)

    def close(self) -> None:
        self.sftp.close()
        self.connection.close()

    def __enter__(self) -> SFTPStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- layout -----------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def blob_path(self, digest: str) -> str:
        return self._path("blobs", digest[:2], digest)

    def part_path(self, digest: str) -> str:
        return self._path("tmp", digest + PART_SUFFIX)

    def capture_path(self, capture_id: str) -> str:
        return self._path("captures", capture_id)

    # -- reading: the source of a fetch --------------------------------------------------
    def ids(self) -> list[str]:
        """Published capture ids; a clear error when the URL names no store."""
        try:
            names = listdir(self.sftp, self._path("captures"))
        except RemotePathMissing:
            root = stat(self.sftp, self.root)  # raises "does not exist" for a wrong path
            kind = "folder" if root.is_dir else "file"
            raise StoreError(
                f"{self.location} is a {kind} but not a replay store (no captures/ in it)"
            ) from None
        return sorted(n for n in names if is_capture_id(n))

    def manifests(self, ids: Iterable[str]) -> dict[str, bytes]:
        """The manifest bytes of each capture, read in one pipelined batch."""
        sinks = {i: BytesSink(MAX_MANIFEST) for i in ids}
        jobs = [
            Download(self._path("captures", i, "manifest.json"), sink, max_size=MAX_MANIFEST)
            for i, sink in sinks.items()
        ]
        self.sftp.run_all(jobs)
        return {i: sink.value() for i, sink in sinks.items()}

    def pull(self, blobs: Iterable[IncomingBlob]) -> dict[str, ReplayError]:
        """Download each blob from its offset into its sink; return the failures by hash.

        A blob one of the store's packs lists is read from that pack, any other from its
        file in `blobs/`: which blobs a job packed is only known from the packs' tables,
        and listing them is cheaper than looking for each blob's file first. The tables
        are read once, before the first download, and not at all when no blob is asked
        for. Either way the blob itself checks the size and hash of what arrives, so a
        pack that lies about a blob fails that blob and never stores wrong bytes.
        """
        pending = iter(blobs)
        first = next(pending, None)
        if first is None:
            return {}
        packed = self._packed()
        started: list[tuple[str, Download]] = []

        def downloads() -> Iterator[Download]:
            for blob in itertools.chain([first], pending):
                where = packed.get(blob.digest)
                if where is None:
                    path = self.blob_path(blob.digest)
                    job = Download(path, blob, offset=blob.offset, size=blob.size)
                else:
                    path, start, size = where
                    sink = _InPack(blob, start)
                    job = Download(path, sink, offset=start + blob.offset, size=start + size)
                started.append((blob.digest, job))
                yield job

        self.sftp.run(downloads())
        return {digest: job.error for digest, job in started if job.error is not None}

    def _packed(self) -> dict[str, tuple[str, int, int]]:
        """Where each packed blob is: (pack path, offset, size), from the packs' trailers
        and then their entry tables, each read in one pipelined batch (all of them: a
        round trip per pack would cost more than the tables). As in
        `replay.store.LocalStore`, a pack that cannot be read or is not whole holds
        nothing; of packs listing the same blob, the first by name is read."""
        try:
            listing = listdir(self.sftp, self._path("packs"))
        except RemotePathMissing:
            return {}
        sizes = {
            self._path("packs", name): attrs.size
            for name, attrs in sorted(listing.items())
            if is_pack_name(name) and attrs.is_file and attrs.size is not None
        }
        tails = self._read_spans(
            {p: (max(0, size - TRAILER.size), TRAILER.size) for p, size in sizes.items()}
        )
        spans: dict[str, tuple[int, int]] = {}
        for path, tail in tails.items():
            try:
                spans[path] = table_span(tail, sizes[path], path)
            except UntrustedCaptureError:
                continue
        found: dict[str, tuple[str, int, int]] = {}
        for path, table in self._read_spans(spans).items():
            try:
                entries = parse_table(table, spans[path][0], path)
            except UntrustedCaptureError:
                continue
            for digest, (offset, size) in entries.items():
                found.setdefault(digest, (path, offset, size))
        return found

    def _read_spans(self, spans: dict[str, tuple[int, int]]) -> dict[str, bytes]:
        """The `length` bytes at `offset` of each remote file (`spans` maps its path to
        (offset, length)), read pipelined; a file whose read failed or came up short is
        left out."""
        sinks = {path: BytesSink(length) for path, (_, length) in spans.items()}
        jobs = [
            Download(path, sinks[path], offset=offset, size=offset + length)
            for path, (offset, length) in spans.items()
        ]
        self.sftp.run(jobs)
        failed = {job.path for job in jobs if job.error is not None}
        return {
            path: sink.value()
            for path, sink in sinks.items()
            if path not in failed and sink.size == spans[path][1]
        }

    # -- writing: the destination of a push ----------------------------------------------
    def ensure(self) -> None:
        """Create the store's folders (and the root's parents), like `mkdir -p`."""
        try:
            stat(self.sftp, self.root)
        except RemotePathMissing:
            parts = self.root.split("/")
            mkdirs(self.sftp, ["/".join(parts[: i + 1]) for i in range(len(parts)) if parts[i]])
        mkdirs(self.sftp, [self._path("blobs"), self._path("captures"), self._path("tmp")])

    def has_capture(self, capture_id: str) -> bool:
        try:
            stat(self.sftp, self.capture_path(capture_id))
        except RemotePathMissing:
            return False
        return True

    def missing_blobs(self, sizes: dict[str, int]) -> set[str]:
        """Which of these blobs the store lacks, or holds with another size (damaged).

        Lists only the `blobs/ab/` folders these hashes fall in, all in one pipelined
        batch, instead of a stat per blob.
        """
        prefixes = sorted({d[:2] for d in sizes})
        listings = {p: ListDir(self._path("blobs", p)) for p in prefixes}
        self.sftp.run(listings.values())
        present: dict[str, int | None] = {}
        for listing in listings.values():
            if listing.error is not None and not isinstance(listing.error, RemotePathMissing):
                raise listing.error
            present.update((name, attrs.size) for name, attrs in listing.entries.items())
        return {d for d, size in sizes.items() if d not in present or present[d] != size}

    def partial_uploads(self) -> dict[str, int]:
        """Sizes of blob uploads an interrupted push left in `tmp/`, by hash."""
        entries = listdir(self.sftp, self._path("tmp"))
        found = {}
        for name, attrs in entries.items():
            digest = name.removesuffix(PART_SUFFIX)
            if name.endswith(PART_SUFFIX) and is_hash(digest) and attrs.is_file:
                found[digest] = attrs.size or 0
        return found

    def make_blob_dirs(self, digests: Iterable[str]) -> None:
        mkdirs(self.sftp, [self._path("blobs", p) for p in sorted({d[:2] for d in digests})])

    def push(self, blobs: Iterable[OutgoingBlob]) -> dict[str, ReplayError]:
        """Upload each blob through `tmp/<hash>.part` into place; return the failures by hash."""
        started: list[tuple[str, Upload]] = []

        def uploads() -> Iterator[Upload]:
            for blob in blobs:
                job = Upload(
                    self.part_path(blob.digest),
                    blob,
                    size=blob.size,
                    final=self.blob_path(blob.digest),
                    offset=blob.offset,
                )
                started.append((blob.digest, job))
                yield job

        self.sftp.run(uploads())
        return {digest: job.error for digest, job in started if job.error is not None}

    def discard_part(self, digest: str) -> None:
        remove(self.sftp, self.part_path(digest))

    def publish(self, capture_id: str, manifest: bytes) -> bool:
        """Publish a manifest atomically; False when that capture was already there."""
        work = self._path("tmp", f"cap-{capture_id}-{secrets.token_hex(6)}")
        target = posixpath.join(work, "manifest.json")
        mkdirs(self.sftp, [work])
        try:
            self.sftp.run_one(Upload(target, BytesSource(manifest), len(manifest)))
            rename(self.sftp, work, self.capture_path(capture_id))
        except ReplayError:
            self._remove_quietly(target, work)
            if self.has_capture(capture_id):
                return False
            raise
        return True

    def _remove_quietly(self, file: str, folder: str) -> None:
        try:
            remove(self.sftp, file)
            rmdir(self.sftp, folder)
        except ReplayError:
            pass


class _InPack:
    """The sink of a blob downloaded from its pack: `Download` reports where the data
    ended as an offset in the pack, and the blob expects one in itself (which it checks
    against its size)."""

    def __init__(self, blob: IncomingBlob, start: int) -> None:
        self.blob, self.start = blob, start

    def write(self, data: memoryview) -> None:
        self.blob.write(data)

    def finish(self, end: int) -> None:
        self.blob.finish(end - self.start)

    def close(self) -> None:
        self.blob.close()
