"""Content hashing, fused with copying so a capture reads each input once.

sha256 from the standard library keeps the agent dependency-free. For big files the
kernel copies (`copy_file_range`) on one core while this thread hashes on the other,
so a capture runs at hashing speed rather than at hashing plus copying speed.

OpenSSL's sha256 (`hashlib`) is 7x faster than the interpreter's own, but loading it
costs ~6 ms, which is what the own one takes for about a megabyte. A failing job whose
inputs all have remembered hashes hashes only a few small texts, so a process hashes
its first megabyte with the interpreter's own sha256 (`new_sha256`).
"""

from __future__ import annotations

import functools
import os
import sys

TYPE_CHECKING = False  # typing costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

CHUNK = 1 << 20
SMALL = 4 << 20
"""Files up to this size are read once into memory, hashed and written (by the store)."""
OWN_SHA256_BYTES = 1 << 20
"""How much a process hashes with the interpreter's own sha256 before loading OpenSSL."""

_own_left = OWN_SHA256_BYTES


def new_sha256(size: int) -> Any:
    """A sha256 object for `size` bytes: the interpreter's own while this process has
    hashed less than `OWN_SHA256_BYTES` with it and OpenSSL is not loaded, else
    OpenSSL's. Either gives the same digest."""
    global _own_left
    # Not atomic: threads hashing at once may overshoot the budget a little, which
    # costs only speed (both give the same digest).
    if size <= _own_left and "_hashlib" not in sys.modules and (own := _own_sha256()) is not None:
        _own_left -= size
        return own()
    import hashlib

    return hashlib.sha256()


@functools.cache  # a failed import searches the whole path again each time
def _own_sha256() -> Callable[[], Any] | None:
    """The interpreter's built-in sha256 (the module `hashlib` itself falls back on)."""
    try:
        from _sha2 import sha256  # Python 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[no-redef]  # Python 3.11
        except ImportError:
            return None
    return sha256  # type: ignore[no-any-return]


def hash_bytes(data: bytes) -> str:
    h = new_sha256(len(data))
    h.update(data)
    return str(h.hexdigest())


def digest_bytes(data: bytes) -> str:
    """A digest for the index's own keys and checks, never a blob's name: BLAKE2b, which
    the interpreter builds in (no OpenSSL to load) and which takes a second capture's
    ~2 MB of folder records and listing in ~3 ms here, against ~11 ms for sha256."""
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - an interpreter built without it
        from hashlib import blake2b
    return str(blake2b(data, digest_size=32).hexdigest())


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Return (sha256 hex, size) of a file, reading it in large chunks."""
    size = 0
    with open(path, "rb", buffering=0) as f:
        h = new_sha256(os.fstat(f.fileno()).st_size)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


class _Copied:
    """How far the kernel has copied, for the hashing thread to follow."""

    __slots__ = ("done", "ended", "error")

    def __init__(self) -> None:
        self.done = 0
        self.ended = False
        self.error: BaseException | None = None


_BITE = CHUNK * 8
"""What the kernel copies, and the hashing thread hashes, at a time."""


def _kernel_copy(src_fd: int, dst_fd: int, size: int, copied: _Copied) -> None:
    try:
        while copied.done < size:
            want = min(size - copied.done, _BITE)
            try:
                n = os.copy_file_range(src_fd, dst_fd, want, copied.done, copied.done)
            except OSError:  # sendfile writes at the file's position, not at an offset
                os.lseek(dst_fd, copied.done, os.SEEK_SET)
                n = os.sendfile(dst_fd, src_fd, copied.done, want)
            if n == 0:  # the source shrank
                break
            copied.done += n
    except BaseException as exc:  # reported to the hashing thread
        copied.error = exc
    finally:
        copied.ended = True


class FileChanged(OSError):
    """A file is not as it was listed or opened: replaced, or resized while copied."""


def copy_opened_and_hash(fsrc: BinaryIO, dst: str | os.PathLike[str],
                         name: str | None = None) -> tuple[str, int]:
    """Copy the open file `fsrc` to the new file `dst` and return (sha256, size) of what
    was copied. Callers that checked what they opened pass it on, not its path again.

    The kernel copies while this thread hashes what has reached `dst`, through a memory
    map of `dst` (no copy into a buffer, which would compete with the kernel's copy). The
    copy is what is hashed, never the source: a source rewritten meanwhile cannot give a
    blob bytes other than its hash says, and a source truncated meanwhile cannot kill the
    process (touching a mapped page past a file's end raises SIGBUS; `dst` is the agent's
    own file). The size is taken from `fstat` before copying; a file that grows is copied
    up to that size, one that shrinks is `FileChanged`. `name`: the file's, for that
    error, when `fsrc` was opened from a descriptor.
    """
    from replay.threads import Worker

    size = os.fstat(fsrc.fileno()).st_size
    with open(dst, "xb+", buffering=0) as fdst:
        os.ftruncate(fdst.fileno(), size)  # mapped whole from the start; filled as copied
        copied = _Copied()
        fds = fsrc.fileno(), fdst.fileno()
        try:
            copier: Worker | None = Worker(lambda: _kernel_copy(*fds, size, copied))
        except RuntimeError:  # no thread to be had: copy, then hash
            copier = None
            _kernel_copy(*fds, size, copied)
        try:
            digest = _hash_copied(fdst.fileno(), size, copied)
        finally:
            if copier is not None:
                copier.join()
        if copied.error is not None:
            raise copied.error
        if copied.done != size:
            raise FileChanged(f"{name or fsrc.name!r} shrank while it was copied")
    return digest, size


def _hash_copied(fd: int, size: int, copied: _Copied) -> str:
    """sha256 of the file `fd` as far as `copied` gets (all `size` bytes unless the copy
    ends short)."""
    import mmap
    import time

    h = new_sha256(size)
    hashed = 0
    if size == 0:  # nothing to map (mmap refuses an empty file)
        return str(h.hexdigest())
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            while hashed < size:
                done = copied.done
                if done > hashed:
                    end = min(done, hashed + _BITE)
                    h.update(view[hashed:end])
                    hashed = end
                elif copied.ended:
                    break
                else:  # the kernel is ahead but for the first bite: rarely waited for
                    time.sleep(0.0002)
        finally:
            view.release()
    return str(h.hexdigest())
