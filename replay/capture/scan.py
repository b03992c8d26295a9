"""Stat an input folder's files in a child `find` while the agent does its other work.

A second capture of an unchanged folder is mostly one `lstat` per file (the only
way to know no file changed), and in Python that walk costs ~6 us a file here, on
the same thread as everything else the failure path does (imports, redaction, the
lockfile). GNU `find` makes the same calls in C in another process, so started at
the failure it is done by the time the inputs are captured: its output is the
folder's fingerprint (`Copier.kept` reuses a folder's records when it matches).

Only a fingerprint is taken from `find`; the files themselves are still walked and
copied by `replay.capture.files` whenever the fingerprint does not match. Where
`find` is missing or not GNU (busybox), fails or is cut off, `result` is None and
the capture walks the folder in Python instead, as it always can. Standard library
only: the child is spawned by `posix_spawn` (no `subprocess`) through `sh` for its
limits, writes to an anonymous memory file (nothing on disk) and is killed and
reaped by `close`.
"""

from __future__ import annotations

import os

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".replay", ".venv", "venv",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".ipynb_checkpoints", "outputs",
     "logs", "mlruns", "wandb"}
)
"""Folders that neither walk (`find` here, `walk_files` in Python) descends into."""
MAX_INPUT_FILES = 100_000
"""Files listed per input folder; a folder with more is cut there."""
FORMAT = "%D %i %s %T@ %C@ %P\\0"
"""Per regular file: device, inode, size, mtime, ctime (to the nanosecond), then the
path under the folder (last, as it may hold spaces or newlines; records end in NUL).
The fingerprint is the hash of these records, sorted."""

MAX_OUTPUT_BLOCKS = 25_000
"""`find`'s output limit in the shell's `ulimit -f` blocks (512 bytes in dash, 1,024 in
bash: 12.8-25.6 MB, in memory). 100,000 records with paths of ~60 characters fit, as
many files as the Python walk lists; a folder of millions of files stops `find` about
where that walk stops, rather than filling the job's memory or outlasting the walk."""


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
    """One folder's `find`, running from `__init__` until `result` or `close`."""

    def __init__(self, folder: str, max_output_blocks: int = MAX_OUTPUT_BLOCKS) -> None:
        if not os.path.isabs(folder):
            raise ValueError(f"not an absolute path: {folder!r}")  # never a `find` option
        self.folder = folder
        self.pid: int | None = None
        self.out: int | None = None
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
            )
        except (OSError, AttributeError):  # no shell, no memfd (not Linux): walk in Python
            self.close()

    def result(self) -> str | None:
        """The folder's fingerprint from `find`'s records, or None when there is none
        to trust (no `find`, an error, an unreadable subfolder, too many files)."""
        if self.pid is None or self.out is None:
            return None
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped by someone else: its status is unknown
            status = -1
        self.pid = None
        try:
            if status != 0:
                return None
            size = os.fstat(self.out).st_size
            data = os.pread(self.out, size, 0) if size else b""
        except OSError:
            return None
        finally:
            self.close()
        if len(data) != size or (data and not data.endswith(b"\0")):
            return None
        records = data.split(b"\0")[:-1]
        if len(records) > MAX_INPUT_FILES:
            return None
        records.sort()
        import hashlib  # here, not before the spawn: the scan starts first on the failure path

        return "find:" + hashlib.sha256(b"\0".join(records)).hexdigest()

    def stop(self) -> None:
        """Kill the child if it still runs (a capture past its deadline)."""
        if self.pid is not None:
            try:
                os.kill(self.pid, 9)  # SIGKILL (`signal` is not loaded for one number)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None

    def close(self) -> None:
        """Stop the child and release its output."""
        self.stop()
        if self.out is not None:
            os.close(self.out)
            self.out = None


def start(folders: list[str]) -> dict[str, FolderScan]:
    """A scan for each of `folders` (real paths of existing folders), started now."""
    return {folder: FolderScan(folder) for folder in dict.fromkeys(folders)}
