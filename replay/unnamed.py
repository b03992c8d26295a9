"""Files written without a name and named once whole.

A file opened with O_TMPFILE in a folder has no name until it is linked into place: a
reader never sees it half-written, and a process killed while writing it (or a capture
abandoned at its deadline, when the job exits) leaves nothing behind, since the kernel
frees it. Filesystems without unnamed files, and machines without /proc, get None from
`open_unnamed`, and the caller writes under a temporary name instead.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

_proc: list[int] = []
_proc_lock = allocate_lock()


def _proc_fd() -> int:
    """One descriptor of /proc for the process, opened once even by racing threads."""
    with _proc_lock:
        if not _proc:
            _proc.append(os.open("/proc", os.O_RDONLY | os.O_DIRECTORY))
        return _proc[0]


def open_unnamed(folder: str) -> int | None:
    """A new unnamed file in `folder`, open for writing, read-only once named; None
    where there are none to be had."""
    try:
        _proc_fd()
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o444)
    except (OSError, AttributeError):  # a filesystem without unnamed files, or no /proc
        return None


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of `data` to `fd` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def name(fd: int, path: str) -> None:
    """Link the unnamed file `fd` at `path`; FileExistsError if something is there."""
    # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N names the unnamed file; os.link only
    # passes that flag when given a directory fd.
    os.link(f"self/fd/{fd}", path, src_dir_fd=_proc_fd(), follow_symlinks=True)
