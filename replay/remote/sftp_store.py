"""A capture store on an SFTP server, laid out exactly like `replay.store.LocalStore`.

    <root>/blobs/ab/<sha256>          content-addressed, read-only once in place
    <root>/captures/<id>/manifest.json
    <root>/tmp/                       uploads in progress; never read as a capture

The same atomic rules hold remotely: a blob is uploaded to `tmp/<sha256>.part` and
renamed into `blobs/` (POSIX rename, so a reader sees the whole blob or none); a
manifest is written into a fresh `tmp/cap-<id>-<random>/` folder that is then renamed to
`captures/<id>` (a plain SFTP rename, which refuses to replace), and only after every
blob it names is in place. A reader listing `captures/` on that server never sees a
capture that is not whole.

This is the SFTP side of the seam in `replay.remote.transfer`: a `CaptureSource` for
fetch, and the destination of push. Every network error leaves as a `RemoteError`.
"""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Iterable, Iterator

from replay.errors import ReplayError, StoreError
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
        """Download each blob from its offset into its sink; return the failures by hash."""
        started: list[tuple[str, Download]] = []

        def downloads() -> Iterator[Download]:
            for blob in blobs:
                job = Download(
                    self.blob_path(blob.digest), blob, offset=blob.offset, size=blob.size
                )
                started.append((blob.digest, job))
                yield job

        self.sftp.run(downloads())
        return {digest: job.error for digest, job in started if job.error is not None}

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
