"""Stat an input folder's files in a child `find` while the agent does its other work.

A second capture of an unchanged folder is mostly one `lstat` per file (the only
way to know no file changed), and in Python that walk costs ~6 us a file here, on
the same thread as everything else the failure path does (imports, redaction, the
lockfile). GNU `find` makes the same calls in C in another process, so started at
the failure it is done by the time the inputs are captured.

A folder's fingerprint is the hash of one record per regular file (device, inode,
size, mtime, ctime, path), sorted. `find` prints the records; `records_of` renders
the same bytes from a Python walk's stats. A listing is only ever remembered under
the fingerprint of the very walk its records came from, so a fingerprint from `find`
that matches it means every file stats exactly as it did then (`Copier.recalled`). When it
does not, `files` turns `find`'s records into the folder's file list, so a first
capture need not walk the folder again in Python (~130 ms for 10,000 files here).
Where `find` is missing or not GNU (busybox), fails or is cut off, `result` is None
and the capture walks the folder in Python, as it always can. Standard library only:
the child is spawned by `posix_spawn` (no `subprocess`) through `sh` for its limits,
writes to an anonymous memory file (nothing on disk) and is killed by `stop`.
"""

from __future__ import annotations

import _signal  # what `signal` wraps: `signal` itself would load `enum` before the spawn
import os
import sys
import time
from operator import itemgetter

TYPE_CHECKING = False

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".replay", ".venv", "venv",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".ipynb_checkpoints", "outputs",
     "logs", "mlruns", "wandb"}
)
"""Folders that neither walk (`find` here, `walk_files` in Python) descends into."""
MAX_INPUT_FILES = 100_000
"""Files listed per input folder; a folder with more is cut there."""
FORMAT = "%D %i %s %T@ %C@ %P\\0"
"""Per regular file: device, inode, size, mtime, ctime (seconds, nine digits of
nanoseconds and a 0, as GNU find 4.9 prints them), then the path under the folder
(last, as it may hold spaces or newlines; records end in NUL)."""
MAX_OUTPUT_BLOCKS = 25_000
"""`find`'s output limit in the shell's `ulimit -f` blocks (512 bytes in dash, 1,024 in
bash: 12.8-25.6 MB, in memory). 100,000 records with paths of ~60 characters fit, as
many files as the Python walk lists; a folder of millions of files stops `find` about
where that walk stops, rather than filling the job's memory or outlasting the walk."""
MAX_SCANS = 4
"""Folders scanned per capture (each is a process and up to 25.6 MB of memory); any
others are fingerprinted by the Python walk."""


def _time(ns: int) -> bytes:
    return b"%d.%09d0" % divmod(ns, 1_000_000_000)


def _ns(text: bytes) -> int:
    """The inverse of `_time`."""
    if text[-11:-10] != b"." or not text[-10:].isdigit():
        raise ValueError(f"not a find time: {text[:40]!r}")
    return int(text[:-11]) * 1_000_000_000 + int(text[-10:-1])


class FileStat:
    """The facts of one file that a record holds: what the capture reads of an
    `os.stat_result` (the size to copy, the rest for the hash cache)."""

    __slots__ = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")

    def __init__(self, dev: int, ino: int, size: int, mtime_ns: int, ctime_ns: int) -> None:
        self.st_dev, self.st_ino, self.st_size = dev, ino, size
        self.st_mtime_ns, self.st_ctime_ns = mtime_ns, ctime_ns


if TYPE_CHECKING:
    Stat = os.stat_result | FileStat
    """A file's facts from a Python walk or from `find`."""


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
"""What `os.fsdecode` decodes with, called directly (10,000 calls of it cost ~10 ms)."""


def files_of(folder: str, records: list[bytes]) -> list[tuple[str, FileStat]]:
    """The files `records` (of `folder`) describe, by path; ValueError on a malformed one."""
    prefix = folder.rstrip(os.sep) + os.sep
    files = []
    for record in records:
        dev, ino, size, mtime, ctime, rel = record.split(b" ", 5)
        if not rel:
            raise ValueError("a record without a path")
        files.append((prefix + rel.decode(_FS_ENCODING, _FS_ERRORS),
                      FileStat(int(dev), int(ino), int(size), _ns(mtime), _ns(ctime))))
    files.sort(key=itemgetter(0))
    return files


def _named_in_utf8(record: bytes) -> bool:
    try:
        record.split(b" ", 5)[-1].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def records_of(folder: str, files: list[tuple[str, Stat]]) -> list[bytes]:
    """`find`'s records for `files` (walked under `folder`), from their stats."""
    skip = len(folder.rstrip(os.sep)) + 1
    return [b"%d %d %d %s %s %s" % (st.st_dev, st.st_ino, st.st_size, _time(st.st_mtime_ns),
                                   _time(st.st_ctime_ns), os.fsencode(path[skip:]))
            for path, st in files]


def fingerprint(records: list[bytes]) -> str:
    """The fingerprint of a folder with these file records (in any order)."""
    from replay.hashing import digest_bytes  # here: the scans start before the failure path loads

    return "files:" + digest_bytes(b"\0".join(sorted(records)))


def _find_argv(folder: str, blocks: int) -> list[str]:
    prune: list[str] = []
    for name in sorted(SKIP_DIRS):
        prune += ["-name", name, "-o"]
    # Regular files first: placed after the folder tests, `find` ran all 17 name tests on
    # every file (~30 ms for 10,000). Folders named as skipped are pruned below the top,
    # as `walk_files` does; links are not followed. Past the output limit `find` dies of
    # SIGXFSZ, without a core file.
    limits = f"ulimit -c 0 && ulimit -f {int(blocks)} && exec find \"$@\""
    return ["sh", "-c", limits, "sh", folder, "-mindepth", "1", "(", "-type", "f", "-printf", FORMAT, ")",
            "-o", "(", "-type", "d", "(", *prune[:-1], ")", "-prune", ")"]


class FolderScan:
    """One folder's `find`, running from `__init__` until `result` or `stop`."""

    def __init__(self, folder: str, max_output_blocks: int = MAX_OUTPUT_BLOCKS) -> None:
        if not os.path.isabs(folder):
            raise ValueError(f"not an absolute path: {folder!r}")  # never a `find` option
        self.folder = folder
        self.pid: int | None = None
        self.pidfd: int | None = None
        self.out: int | None = None
        self.records: list[bytes] | None = None
        self._fingerprint: str | None = None
        try:
            self.out = os.memfd_create("replay-scan")
            self.pid = os.posix_spawn(
                "/bin/sh", _find_argv(folder, max_output_blocks),
                {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, self.out, 1),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
                # Python ignores SIGXFSZ and a spawned child inherits that: `find` would
                # then go on past its output limit to the end of the tree.
                setsigdef=(_signal.SIGXFSZ,),
            )
            self.pidfd = os.pidfd_open(self.pid)  # signals reach this child even once reaped
        except Exception:  # no shell, no memfd (not Linux), an audit hook's veto: walk in Python
            self.close()

    def result(self) -> str | None:
        """The folder's fingerprint from `find`'s records, or None when there is none
        to trust (no `find`, an error, an unreadable subfolder, too many files)."""
        if self._fingerprint is not None:
            return self._fingerprint
        pid, out = self.pid, self.out
        if pid is None or out is None:
            return None
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by someone else (`stop`, or the job): status unknown
            return None
        self.pid = None
        try:
            size = os.fstat(out).st_size
            data = os.pread(out, size, 0) if size else b""
        except OSError:
            return None
        if status != 0 or len(data) != size or (data and not data.endswith(b"\0")):
            return None
        records = data.split(b"\0")[:-1]
        if not data.isascii():  # as the walk, leave out the files no manifest could name
            records = [r for r in records if _named_in_utf8(r)]
        if len(records) > MAX_INPUT_FILES:
            return None
        self.records = records
        self._fingerprint = fingerprint(records)
        return self._fingerprint

    def files(self) -> list[tuple[str, FileStat]] | None:
        """The files whose records gave `result`'s fingerprint, by path (None before a
        result, or when a record does not parse: then the folder is walked)."""
        if self.records is None:
            return None
        try:
            return files_of(self.folder, self.records)
        except ValueError:
            return None

    def stop(self) -> None:
        """Kill the child if it still runs and reap it if it is gone within half a
        second; never blocks longer (a `find` stuck on a hung mount stays a zombie
        until the job exits). Safe from another thread than `result`'s."""
        pid, pidfd = self.pid, self.pidfd
        if pid is None:
            return
        try:
            if pidfd is not None:
                _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
            else:  # spawned, then `pidfd_open` failed: not reaped yet, so the pid is its own
                os.kill(pid, _signal.SIGKILL)
            for _ in range(100):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
                time.sleep(0.005)
        except OSError:  # already gone, or reaped by `result`
            pass
        self.pid = None

    def close(self) -> None:
        """Stop the child and release its output and handle. Not while another thread
        may be in `result` (a capture abandoned at its deadline): `stop` is for that."""
        self.stop()
        for fd in (self.out, self.pidfd):
            if fd is not None:
                os.close(fd)
        self.out = self.pidfd = None
        self.records = None  # up to 100,000 of them, in a process that may go on for hours
