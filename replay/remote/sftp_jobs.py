"""The operations an `SFTPClient` runs: listings, downloads, uploads, single requests.

Each is a `Job`: a small state machine that queues its next request from the reply
handler of the previous one, so the client can interleave hundreds of them on one
channel. Downloads write into a `Sink` and uploads read from a `Source`, which is
where the transfer layer hashes, resumes and renames; nothing here knows about blobs.
The functions at the end run one operation and raise its error, for the few calls
that need an answer before going on.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Protocol

from replay.errors import ReplayError
from replay.remote.errors import FX_EOF, FX_FAILURE, FX_OK, RemoteError
from replay.remote.sftp import (
    ATTR_PERMISSIONS,
    ATTRS,
    DATA,
    FSETSTAT,
    MKDIR,
    NAME,
    OPEN,
    OPEN_CREATE,
    OPEN_READ,
    OPEN_WRITE,
    OPENDIR,
    READ,
    READDIR,
    REMOVE,
    RENAME,
    RMDIR,
    STAT,
    WRITE,
    Attrs,
    Job,
    Reply,
    SFTPClient,
    path_arg,
    string,
    u32,
    u64,
)


class Sink(Protocol):
    """Where a download's bytes go, in file order."""

    def write(self, data: memoryview) -> None: ...

    def finish(self, end: int) -> None:
        """The data ended at offset `end`; raise a `ReplayError` to fail the job."""

    def close(self) -> None:
        """The job is over, whatever happened (so local files close as jobs end)."""


class Source(Protocol):
    """Where an upload's bytes come from, read in file order."""

    def read(self, n: int) -> bytes: ...

    def sent(self, n: int) -> None:
        """The server acknowledged writing `n` more bytes (reads run ahead by the pipeline)."""

    def finish(self) -> None:
        """Every byte was read; raise a `ReplayError` to fail the job before it is published."""

    def close(self) -> None:
        """The job is over, whatever happened."""


class Request(Job):
    """One request answered by a status (mkdir, remove, rename); `tolerate` lists codes
    that count as success, like FAILURE for a mkdir of a folder that exists."""

    def __init__(
        self, kind: int, payload: bytes, path: str, tolerate: tuple[int, ...] = ()
    ) -> None:
        self.kind, self.payload, self.path, self.tolerate = kind, payload, path, tolerate

    def begin(self) -> None:
        self.sftp.submit(self.kind, self.payload, self._done)

    def _done(self, kind: int, reply: Reply) -> None:
        self.check(kind, reply, self.path, (FX_OK, *self.tolerate))
        self.finish()


class Stat(Job):
    """The attributes of `path` (following links), or an error."""

    attrs: Attrs | None = None

    def __init__(self, path: str) -> None:
        self.path = path

    def begin(self) -> None:
        self.sftp.submit(STAT, path_arg(self.path), self._done)

    def _done(self, kind: int, reply: Reply) -> None:
        if kind == ATTRS:
            self.attrs = reply.attrs()
        else:
            self.check(kind, reply, self.path, ok=())
        self.finish()


class ListDir(Job):
    """The entries of a remote folder (without `.` and `..`), with their attributes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: dict[str, Attrs] = {}
        self.handle = b""

    def begin(self) -> None:
        self.sftp.submit(OPENDIR, path_arg(self.path), self._opened)

    def _opened(self, kind: int, reply: Reply) -> None:
        handle = self.opened(kind, reply, self.path)
        if handle is None:
            return
        self.handle = handle
        self.sftp.submit(READDIR, string(self.handle), self._names)

    def _names(self, kind: int, reply: Reply) -> None:
        if kind == NAME:
            for _ in range(reply.u32()):
                name = reply.text()
                reply.view()  # the `ls -l` style long name
                attrs = reply.attrs()
                if name not in (".", ".."):
                    self.entries[name] = attrs
            self.sftp.submit(READDIR, string(self.handle), self._names)
            return
        self.check(kind, reply, self.path, ok=(FX_EOF,))
        self.sftp.close_handle(self.handle, self.finish)


class Download(Job):
    """Read `path` from `offset` up to `size` (or the size the server reports) into `sink`.

    With `size` known (from a manifest) no stat is needed; a remote file that ends early
    is noticed by the sink, which gets the offset where the data stopped.
    """

    def __init__(
        self,
        path: str,
        sink: Sink,
        offset: int = 0,
        size: int | None = None,
        max_size: int | None = None,
    ) -> None:
        self.path, self.sink, self.size, self.max_size = path, sink, size, max_size
        self.pos = self.next = offset
        self.handle = b""
        self.reads = 0
        self.eof = False
        self.early: dict[int, memoryview] = {}

    def begin(self) -> None:
        if self.size is not None and self.pos >= self.size:
            self._complete()
            return
        if self.size is None:
            self.sftp.submit(STAT, path_arg(self.path), self._sized)
        self.sftp.submit(OPEN, path_arg(self.path) + u32(OPEN_READ) + u32(0), self._opened)

    def _sized(self, kind: int, reply: Reply) -> None:
        if kind != ATTRS:
            self.check(kind, reply, self.path, ok=())
            return
        self.size = reply.attrs().size or 0
        if self.max_size is not None and self.size > self.max_size:
            too_big = f"{self.path} is {self.size} bytes, over the {self.max_size} limit"
            self.fail(RemoteError(f"{self.sftp.where}: {too_big}"))

    def _opened(self, kind: int, reply: Reply) -> None:
        handle = self.opened(kind, reply, self.path)
        if handle is None:
            return
        self.handle = handle
        if self.error is None:
            self._fill()
        if self.reads == 0:
            self._complete()

    def _fill(self) -> None:
        size = self.size or 0
        while self.next < size and self.reads < self.sftp.depth and not self.eof:
            n = min(self.sftp.read_size, size - self.next)
            self._read(self.next, n)
            self.next += n

    def _read(self, offset: int, n: int) -> None:
        self.reads += 1
        self.sftp.submit(
            READ, string(self.handle) + u64(offset) + u32(n), partial(self._data, offset, n)
        )

    def _data(self, offset: int, n: int, kind: int, reply: Reply) -> None:
        self.reads -= 1
        if kind == DATA and self.error is None:
            data = reply.view()[:n]
            if len(data) < n:  # servers may answer short; ask for the rest
                self._read(offset + len(data), n - len(data))
            self._accept(offset, data)
            self._fill()
        elif kind != DATA and self.check(kind, reply, self.path, ok=(FX_EOF,)):
            self.eof = True
        if self.reads == 0:
            self._complete()

    def _accept(self, offset: int, data: memoryview) -> None:
        if offset != self.pos:
            self.early[offset] = data
            return
        try:
            self.sink.write(data)
            self.pos += len(data)
            while self.pos in self.early:
                data = self.early.pop(self.pos)
                self.sink.write(data)
                self.pos += len(data)
        except ReplayError as exc:
            self.fail(exc)

    def ended(self) -> None:
        self.sink.close()

    def _complete(self) -> None:
        if self.error is None:
            try:
                self.sink.finish(self.pos)
            except ReplayError as exc:
                self.fail(exc)
        if self.handle:
            self.sftp.close_handle(self.handle, self.finish)
        else:
            self.finish()


class Upload(Job):
    """Write `source` into `path` from `offset` to `size`, then rename it to `final`.

    `path` is opened without truncation and created writable by its owner, so an
    interrupted upload can be resumed from `offset`: the callers name such files by
    their content, so whoever resumes one, even concurrently, writes the same bytes at
    the same offsets. It is made read-only just before the rename, and the rename is
    sent only after every write and the close were acknowledged and the source
    verified, so `final` never shows a partial file. `posix-rename` replaces an
    existing `final`, which is right for content-addressed files.
    """

    def __init__(
        self,
        path: str,
        source: Source,
        size: int,
        final: str | None = None,
        offset: int = 0,
        mode: int = 0o444,
    ) -> None:
        self.path, self.source, self.size, self.final = path, source, size, final
        self.next, self.mode = offset, mode
        self.handle = b""
        self.writes = 0

    def ended(self) -> None:
        self.source.close()

    def begin(self) -> None:
        flags = OPEN_WRITE | OPEN_CREATE
        attrs = u32(ATTR_PERMISSIONS) + u32(0o644)
        self.sftp.submit(OPEN, path_arg(self.path) + u32(flags) + attrs, self._opened)

    def _opened(self, kind: int, reply: Reply) -> None:
        handle = self.opened(kind, reply, self.path)
        if handle is None:
            return
        self.handle = handle
        self._fill()

    def _fill(self) -> None:
        try:
            while self.next < self.size and self.writes < self.sftp.depth:
                data = self.source.read(min(self.sftp.write_size, self.size - self.next))
                if not data:
                    raise RemoteError(
                        f"{self.path}: the local source ended at {self.next} of {self.size} bytes"
                    )
                self.writes += 1
                self.sftp.submit(
                    WRITE,
                    string(self.handle) + u64(self.next) + string(data),
                    partial(self._written, len(data)),
                )
                self.next += len(data)
            if self.next >= self.size and self.writes == 0:
                self.source.finish()
                self._seal()
        except ReplayError as exc:
            self.fail(exc)
            if self.writes == 0:
                self._abandon()

    def _written(self, n: int, kind: int, reply: Reply) -> None:
        self.writes -= 1
        if self.error is None and self.check(kind, reply, self.path):
            self.source.sent(n)
            self._fill()
        elif self.writes == 0:
            self._abandon()

    def _seal(self) -> None:
        self.sftp.submit(
            FSETSTAT, string(self.handle) + u32(ATTR_PERMISSIONS) + u32(self.mode), _nothing
        )
        self.sftp.close_handle(self.handle, self._closed, check=True)
        self.handle = b""

    def _closed(self, error: RemoteError | None = None) -> None:
        if error is not None:
            self.fail(error)
            self._abandon()
        elif self.final is None:
            self.finish()
        else:
            self.sftp.submit(*self.sftp.replacing_rename(self.path, self.final), self._renamed)

    def _renamed(self, kind: int, reply: Reply) -> None:
        if self.check(kind, reply, self.final or self.path):
            self.finish()
        else:
            self._abandon()

    def _abandon(self) -> None:
        """Give up and remove the partial file: its content is not trustworthy."""
        if self.handle:
            self.sftp.close_handle(self.handle, _nothing)
            self.handle = b""
        self.sftp.submit(REMOVE, path_arg(self.path), lambda kind, reply: self.finish())


def _nothing(*_: object) -> None:
    return None


class BytesSink:
    """Collects a download in memory (manifests), refusing more than `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: memoryview) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise RemoteError(f"a remote file is over the {self.limit} byte limit")
        self.parts.append(bytes(data))

    def finish(self, end: int) -> None:
        return None

    def close(self) -> None:
        return None

    def value(self) -> bytes:
        return b"".join(self.parts)


class BytesSource:
    """Uploads bytes held in memory (a manifest)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def sent(self, n: int) -> None:
        return None

    def finish(self) -> None:
        return None

    def close(self) -> None:
        return None


def stat(sftp: SFTPClient, path: str) -> Attrs:
    """The attributes of `path`; `RemotePathMissing` when there is nothing there."""
    job = sftp.run_one(Stat(path))
    assert job.attrs is not None
    return job.attrs


def listdir(sftp: SFTPClient, path: str) -> dict[str, Attrs]:
    return sftp.run_one(ListDir(path)).entries


def mkdirs(sftp: SFTPClient, paths: Iterable[str], mode: int = 0o755) -> None:
    """Create folders (pipelined); one that exists already is fine."""
    jobs = [
        Request(MKDIR, path_arg(p) + u32(ATTR_PERMISSIONS) + u32(mode), p, (FX_FAILURE,))
        for p in paths
    ]
    sftp.run_all(jobs)


def rename(sftp: SFTPClient, old: str, new: str) -> None:
    """Plain SFTP rename: refuses to replace an existing target (used to publish folders)."""
    sftp.run_one(Request(RENAME, path_arg(old) + path_arg(new), new))


def remove(sftp: SFTPClient, path: str) -> None:
    sftp.run_one(Request(REMOVE, path_arg(path), path))


def rmdir(sftp: SFTPClient, path: str) -> None:
    sftp.run_one(Request(RMDIR, path_arg(path), path))
