"""Which filesystem a path lives on, read from `/proc/self/mounts`.

Appending to a file on a network mount re-uploads it on some platforms; knowing the
filesystem type of each written file lets `doctor` say so.
"""

from __future__ import annotations

import functools
import os

NETWORK_TYPES = frozenset(
    {"fuse.blobfuse", "fuse.blobfuse2", "cifs", "smb3", "nfs", "nfs4", "fuse.s3fs",
     "fuse.gcsfuse", "fuse.sshfs", "9p", "lustre", "glusterfs", "ceph", "fuse.rclone",
     "fuse.goofys", "fuse.juicefs", "fuse.azureml", "fuse.dvc"}
)
"""Remote filesystems; local FUSE filesystems (fuse-overlayfs, lxcfs) are not among them."""


@functools.lru_cache(maxsize=1)
def _mounts() -> tuple[tuple[str, str], ...]:
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            rows = [line.split()[1:3] for line in f if line.count(" ") >= 3]
    except OSError:
        return ()
    # Longest mount point first, so the innermost mount wins.
    return tuple(sorted(((p.replace("\\040", " "), t) for p, t in rows), key=lambda r: -len(r[0])))


def filesystem_of(path: str) -> str:
    real = os.path.realpath(path)
    for point, fstype in _mounts():
        if real == point or real.startswith(point.rstrip("/") + "/"):
            return fstype
    return ""


def is_network_fs(fstype: str) -> bool:
    return fstype in NETWORK_TYPES
