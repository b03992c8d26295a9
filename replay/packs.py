"""Packs: many small blobs in one file.

Creating a file costs 25 us to 1 ms on this disk, depending on recent deletions, so a
capture that stored a folder of 10,000 small files as 10,000 blob files spent most of
its time creating them. Each thread copying many files (`replay.capture.files.Copier`) appends the small ones to
one pack instead: one file created per thread, whatever the number of files.

A pack is the magic, the blobs' bytes back to back, one entry per blob (its raw
sha256, offset and size), then a trailer (where the entries start, how many, the
magic). It is written without a name where the filesystem allows (`replay.unnamed`),
else under a temporary one in `tmp/`, named in `packs/` whole, and never changed after.
A new pack leaves out what the newest packs hold (`LocalStore.recently_packed`). A
store reads a packed blob in place (`replay.store.LocalStore`), and so does a fetch over
SFTP (`replay.remote.sftp_store`): no one has to unpack a store, which might be a
read-only mount of a job's outputs.

Packs are read as untrusted: a pack must be a regular file (a FIFO in its place is not
waited on) of at most `MAX_ENTRIES` entries, each inside the pack's data and no bigger
than a blob a copier packs (`SMALL`); each reader checks a blob's hash when it reads its
bytes, as it does for blob files.
"""

from __future__ import annotations

import os
import stat
import struct
from operator import itemgetter

from replay.errors import UntrustedCaptureError
from replay.hashing import SMALL, hash_bytes
from replay.unnamed import name, open_unnamed, write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Container

MAGIC = b"RPLYPAK1"
ENTRY = struct.Struct("<32sQQ")
SPAN = struct.Struct("<32xQQ")
"""An entry without its hash."""
TRAILER = struct.Struct("<QQ8s")
_second = itemgetter(1)
MAX_ENTRIES = 1_000_000
"""Blobs a pack may hold (its table is then 48 MB): a copier packs at most the files of
the folders one capture lists, 100,000 each (`replay.capture.scan.MAX_INPUT_FILES`)."""
SUFFIX = ".pack"
NAME_LENGTH = 16 + len(SUFFIX)


def is_pack_name(name: str) -> bool:
    """Names the store gives packs (`PackWriter`): 16 hex digits and the suffix."""
    stem = name[:-len(SUFFIX)]
    return (len(name) == NAME_LENGTH and name.endswith(SUFFIX)
            and all(c in "0123456789abcdef" for c in stem))


def table_span(tail: bytes, size: int, origin: str) -> tuple[int, int]:
    """(offset, length) of the entry table of a pack of `size` bytes whose last bytes
    are `tail` (`TRAILER.size` of them)."""
    if size < len(MAGIC) + TRAILER.size or len(tail) != TRAILER.size:
        raise UntrustedCaptureError(f"{origin}: not a pack (too short)")
    start, count, magic = TRAILER.unpack(tail)
    if magic != MAGIC or start < len(MAGIC) or start + count * ENTRY.size + TRAILER.size != size:
        raise UntrustedCaptureError(f"{origin}: not a pack, or a damaged one")
    if count > MAX_ENTRIES:  # a sparse file could claim any size: its table is read whole
        raise UntrustedCaptureError(f"{origin}: a pack of {count} blobs, over {MAX_ENTRIES}")
    return start, count * ENTRY.size


def parse_table(table: bytes, start: int, origin: str) -> dict[str, tuple[int, int]]:
    """The (offset, size) of each blob in the entry table `table`, which starts at
    `start` in its pack. (The hashes are turned into text in one go: an entry at a time
    and each entry checked in a loop took three times as long, ~10 ms for 10,000.)"""
    spans = list(SPAN.iter_unpack(table))
    if spans and (min(spans)[0] < len(MAGIC) or max(map(_second, spans)) > SMALL
                  or max(map(sum, spans)) > start):
        raise UntrustedCaptureError(f"{origin}: an entry lies outside the pack's data")
    text = table.hex()
    step = 2 * ENTRY.size
    return dict(zip([text[i:i + 64] for i in range(0, len(text), step)], spans))


def read_entries(path: str) -> dict[str, tuple[int, int]]:
    """The (offset, size) of each blob in the pack at `path`; UntrustedCaptureError for
    a file that is not a whole pack (or not a regular file: a FIFO put in its place is
    not waited on), OSError for one that cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedCaptureError(f"{path}: not a pack (not a regular file)")
        tail = os.pread(fd, TRAILER.size, max(0, st.st_size - TRAILER.size))
        start, length = table_span(tail, st.st_size, path)
        table = os.pread(fd, length, start)
    finally:
        os.close(fd)
    if len(table) != length:
        raise UntrustedCaptureError(f"{path}: the pack ended early")
    return parse_table(table, start, path)


class PackWriter:
    """Appends blobs to one new pack, created on the first blob in `work` (a folder)
    without a name where it can be (`replay.unnamed`): a writer killed or abandoned
    leaves nothing. `close` names the pack in `folder`, whole; `discard` drops it. One
    writer per thread. `held`: blobs the store is known to hold, not written again."""

    def __init__(self, work: str, folder: str, held: Container[str] = (),
                 named: Callable[[str, dict[str, tuple[int, int]]], None] | None = None) -> None:
        self.work = work
        self.folder = folder
        self.held = held
        self.named = named
        """Told the path and entries of the pack once it is named."""
        self.fd = -1
        self.temporary: str | None = None
        """The pack's temporary name, where it could not be made without one."""
        self.end = 0
        self.entries: dict[str, tuple[int, int]] = {}

    def add(self, data: bytes) -> str:
        """Store `data` (at most `SMALL` bytes) unless the store holds it; return its hash."""
        digest = hash_bytes(data)
        if digest in self.entries or digest in self.held:
            return digest
        if self.fd < 0:
            self._open()
        self.entries[digest] = (self.end, len(data))
        self._write(data)
        return digest

    def _open(self) -> None:
        fd = open_unnamed(self.work)
        if fd is None:
            self.temporary = os.path.join(self.work, f"pack-{os.getpid()}-{os.urandom(6).hex()}")
            fd = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        self.fd = fd
        self._write(MAGIC)

    def _write(self, data: bytes) -> None:
        write_all(self.fd, data)
        self.end += len(data)

    def close(self) -> None:
        """Write the entry table and trailer, and name the pack in `folder`."""
        if self.fd < 0:
            return
        table = b"".join(ENTRY.pack(bytes.fromhex(d), offset, size)
                         for d, (offset, size) in self.entries.items())
        self._write(table + TRAILER.pack(self.end, len(self.entries), MAGIC))
        os.makedirs(self.folder, exist_ok=True)  # a store whose folders were made before packs
        final = os.path.join(self.folder, os.urandom(8).hex() + SUFFIX)
        if self.temporary is None:
            name(self.fd, final)
        else:
            os.rename(self.temporary, final)
            self.temporary = None
        self.discard()  # only the descriptor is left to let go of
        if self.named is not None:
            self.named(final, self.entries)

    def discard(self) -> None:
        """Let go of the pack; one not yet named is gone with it."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.temporary is not None:
            try:
                os.unlink(self.temporary)
            except OSError:
                pass
            self.temporary = None
