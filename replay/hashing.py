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

import os
import sys

TYPE_CHECKING = False  # typing costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

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


_OWN_UNKNOWN = object()
_own: Any = _OWN_UNKNOWN  # looked up once: a failed import searches the whole path again


def _own_sha256() -> Callable[[], Any] | None:
    """The interpreter's built-in sha256 (the module `hashlib` itself falls back on)."""
    global _own
    if _own is _OWN_UNKNOWN:
        try:
            from _sha2 import sha256  # Python 3.12 and later
        except ImportError:
            try:
                from _sha256 import sha256  # type: ignore[no-redef]  # Python 3.11
            except ImportError:
                sha256 = None
        _own = sha256
    return _own  # type: ignore[no-any-return]


def hash_bytes(data: bytes) -> str:
    h = new_sha256(len(data))
    h.update(data)
    return str(h.hexdigest())


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


def _kernel_copy(src_fd: int, dst_fd: int, size: int, errors: list[BaseException]) -> None:
    try:
        done = 0
        while done < size:
            try:
                n = os.copy_file_range(src_fd, dst_fd, size - done, done, done)
            except OSError:
                n = os.sendfile(dst_fd, src_fd, done, min(size - done, 1 << 30))
            if n == 0:
                break
            done += n
    except BaseException as exc:  # reported to the hashing thread
        errors.append(exc)


def copy_and_hash(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> tuple[str, int]:
    """Copy `src` to the new file `dst` and return (sha256, size) of what was copied.

    The size is taken from `fstat` before copying; a file that grows meanwhile is copied
    and hashed up to that size, so the hash always describes the bytes in `dst`.
    """
    from replay.threads import Worker

    with open(src, "rb", buffering=0) as fsrc:
        size = os.fstat(fsrc.fileno()).st_size
        with open(dst, "xb", buffering=0) as fdst:
            errors: list[BaseException] = []
            fds = fsrc.fileno(), fdst.fileno()
            copier = Worker(lambda: _kernel_copy(*fds, size, errors))
            try:
                digest = _hash_range(src, size)
            finally:
                copier.join()
            if errors:
                raise errors[0]
            if os.fstat(fdst.fileno()).st_size != size:
                raise OSError(f"short copy of {os.fspath(src)!r}")
    return digest, size


def _hash_range(path: str | os.PathLike[str], size: int) -> str:
    """sha256 of the first `size` bytes, hashed straight from the page cache through a
    memory map (no copy into a buffer, which would compete with the kernel's copy)."""
    import mmap

    h = new_sha256(size)
    with open(path, "rb", buffering=0) as f:
        if os.fstat(f.fileno()).st_size < size:
            raise OSError(f"{os.fspath(path)!r} shrank while it was captured")
        if size == 0:  # nothing to map (mmap refuses an empty file)
            return str(h.hexdigest())
        with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for start in range(0, size, CHUNK * 8):
                    h.update(view[start : start + CHUNK * 8])
            finally:
                view.release()
    return h.hexdigest()
