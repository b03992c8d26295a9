"""The manifest's `environment`: where a step ran, and what was installed there.

The installed distributions are read from the metadata folders on `sys.path` and kept
as a PEP 751 `pylock.toml` and a pinned `requirements.txt` in the store. Reading them
costs a failing job ~10 ms for 60 distributions, so the store's index remembers them
under the fingerprint of the folders they came from (`lockfile.fingerprint`): a job
that fails again in an unchanged environment reads one row instead. (Conda's facts,
when in a conda environment, are read on every capture: `lockfile.conda_info`.)
"""

from __future__ import annotations

import os
import sys

from replay import document, lockfile

TYPE_CHECKING = False  # typing costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from replay.store import LocalStore

_SOURCES = frozenset({"index", "editable", "vcs", "local", "archive"})


def environment_section(store: LocalStore, variables: dict[str, Any]) -> dict[str, Any]:
    """The manifest's environment: `variables` (`{"variables", "redacted"}`, redacted
    already) plus the interpreter, the host and the installed distributions as a
    lockfile in `store`. Step and mini-batch captures both describe where they ran
    through here, so `env diff` and `doctor` read them alike."""
    python = lockfile.python_info()
    dists, pylock, requirements = installed(store, python)
    return {
        **variables,
        "python": python,
        "host": _host_facts(),
        "distributions": dists,
        "pylock": pylock,
        "requirements": requirements,
        "conda": lockfile.conda_info(),
    }


def installed(store: LocalStore, python: dict[str, str]) -> tuple[list[dict[str, Any]], str, str]:
    """The installed distributions, and the blobs of their pylock.toml and
    requirements.txt: remembered ones when the fingerprint is unchanged, their blobs
    are still in the store and the row is well formed, else read afresh."""
    key = lockfile.fingerprint(python)
    index = store.index()
    row = index.cached_environment(key)
    if row is not None:
        text, pylock, requirements = row
        try:
            dists = document.loads(text)
            if _well_formed(dists) and store.present({pylock, requirements}) == {pylock, requirements}:
                return dists, pylock, requirements
        except Exception:  # a damaged row (bad JSON, too deep, not blob hashes): read afresh
            pass
    dists = lockfile.scan()
    pylock = store.add_bytes(lockfile.to_pylock(dists, python).encode())
    requirements = store.add_bytes(lockfile.to_requirements(dists).encode())
    index.remember_environment(key, document.dumps(dists), pylock, requirements)
    return dists, pylock, requirements


def _well_formed(dists: object) -> bool:
    """Whether a remembered row reads as `lockfile.scan()` output, as the manifest's
    `Distribution` model takes it: it goes into the manifest as it is, and a
    malformed one would make the capture unreadable."""
    return isinstance(dists, list) and all(
        isinstance(d, dict)
        and d.keys() == {"name", "version", "installer", "source", "url", "commit"}
        and isinstance(d["name"], str) and isinstance(d["version"], str)
        and d["source"] in _SOURCES
        and all(d[k] is None or isinstance(d[k], str) for k in ("installer", "url", "commit"))
        for d in dists
    )


def _host_facts() -> dict[str, Any]:
    uname = os.uname()
    return {
        "hostname": uname.nodename,  # what socket.gethostname() returns
        "cpu_count": os.cpu_count(),
        # os.uname, not platform.platform(): that one runs `uname -p` in a subprocess
        "platform": f"{uname.sysname}-{uname.release}-{uname.machine}",
        "machine": uname.machine,
        "pid": os.getpid(),
        "argv0": sys.argv[0] if sys.argv else "",
    }
