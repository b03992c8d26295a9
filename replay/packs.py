"""Packs: many small blobs in one file.

Creating a file costs 25 us to 1 ms on this disk, depending on recent deletions, so a
capture that stored a folder of 10,000 small files as 10,000 blob files spent most of
its time creating them, and ran 2 to 9 times slower than the same disk's best. Each
thread copying many files (`replay.capture.files.Copier`) appends the small ones to
one pack instead: one file created per thread, whatever the number of files.

A pack is the magic, the blobs' bytes back to back, one entry per blob (its raw
sha256, offset and size), then a trailer (where the entries start, how many, the
magic). It is written under `tmp/` and renamed into `packs/` whole, and never changed
after. A store reads a packed blob in place (`replay.store.LocalStore`), and so does a
fetch over SFTP (`replay.remote.sftp_store`): no one has to unpack a store, which
might be a read-only mount of a job's outputs.

Packs are read as untrusted: every entry must lie inside the pack's data and be no
bigger than a blob a copier packs (`SMALL`); each reader checks a blob's hash when it
reads its bytes, as it does for blob files.
"""

from __future__ import annotations

import os
import struct
from operator import itemgetter

from replay.errors import UntrustedCaptureError
from replay.hashing import SMALL, hash_bytes

MAGIC = b"RPLYPAK1"
ENTRY = struct.Struct("<32sQQ")
SPAN = struct.Struct("<32xQQ")
"""An entry without its hash."""
TRAILER = struct.Struct("<QQ8s")
_second = itemgetter(1)
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
    a file that is not a whole pack, OSError for one that cannot be read."""
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        start, length = table_span(os.pread(f.fileno(), TRAILER.size, max(0, size - TRAILER.size)),
                                   size, path)
        table = os.pread(f.fileno(), length, start)
    if len(table) != length:
        raise UntrustedCaptureError(f"{path}: the pack ended early")
    return parse_table(table, start, path)


class PackWriter:
    """Appends blobs to one new pack, created on the first blob. `close` names the pack
    in `folder` (whole, by rename); `discard` drops it. One writer per thread."""

    def __init__(self, work: str, folder: str) -> None:
        self.work = work
        self.folder = folder
        self.fd = -1
        self.end = 0
        self.entries: dict[str, tuple[int, int]] = {}

    def add(self, data: bytes) -> str:
        """Store `data` (at most `SMALL` bytes); return its hash."""
        digest = hash_bytes(data)
        if digest in self.entries:
            return digest
        if self.fd < 0:
            self.fd = os.open(self.work, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._write(MAGIC)
        self.entries[digest] = (self.end, len(data))
        self._write(data)
        return digest

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.end += len(data)

    def close(self) -> None:
        """Write the entry table and trailer, and rename the pack into `folder`."""
        if self.fd < 0:
            return
        table = b"".join(ENTRY.pack(bytes.fromhex(d), offset, size)
                         for d, (offset, size) in self.entries.items())
        self._write(table + TRAILER.pack(self.end, len(self.entries), MAGIC))
        os.close(self.fd)
        self.fd = -1
        os.chmod(self.work, 0o444)
        os.makedirs(self.folder, exist_ok=True)  # a store made before packs were
        os.rename(self.work, os.path.join(self.folder, os.urandom(8).hex() + SUFFIX))

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            try:
                os.unlink(self.work)
            except OSError:
                pass
