"""Build a new virtual environment that matches a capture's recorded distributions.

uv does it when it is on PATH (`uv venv` + `uv pip install`), else the standard library's
`venv` and pip. Every install targets the new environment's interpreter explicitly, and
the variables that could send pip elsewhere (PIP_TARGET, PIP_PREFIX, PIP_USER, PYTHONPATH)
are dropped, so the environment running replay is never touched.

A capture is untrusted input: requirement lines are rebuilt from the validated manifest,
never copied from a file in the capture, and each name, version and URL must look like
one (a hostile capture cannot slip `--index-url` or a `file:` URL into pip).

Not everything can be matched: editable and local installs point at folders of the
capturing machine, a private wheel or a yanked version is not on the index. Those are
reported, and everything else is still installed: a failing bulk install is retried
without the packages its error names, and what is left unexplained is installed one by
one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay import lockfile
from replay.errors import ReplayError, UsageError

if TYPE_CHECKING:
    from replay.bundle import Distribution, Manifest

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
_VCS_URL = re.compile(r"^(?:git|hg|svn|bzr)\+(?:https?|ssh)://[^\s@#;]+(?:@[^\s#;]+)?$")
_COMMIT = re.compile(r"^[A-Za-z0-9._-]{4,64}$")
_ARCHIVE_URL = re.compile(r"^https?://[^\s#;]+(?:#(?:sha256|sha384|sha512|md5)=[0-9a-fA-F]+)?$")
_ERROR_START = re.compile(r"^\s*(?:ERROR|error|×)", re.MULTILINE)
_NOT_ON_INDEX = (
    "no matching distribution",
    "could not find a version",
    "not found in the package registry",
    "no version of",
    "was not found in the provided package locations",
)
_UNSAFE_ENV = (
    "PIP_TARGET",
    "PIP_PREFIX",
    "PIP_USER",
    "PIP_REQUIRE_VIRTUALENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "UV_SYSTEM_PYTHON",
    "UV_PYTHON",
    "CONDA_PREFIX",
)
_BULK_ROUNDS = 4


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str
    line: str
    """The requirements.txt line that installs it."""


@dataclass(frozen=True)
class Unmatched:
    """A recorded distribution the new environment does not have, and why."""

    name: str
    version: str
    reason: str


@dataclass
class CreateResult:
    venv: str
    tool: str
    """`uv` or `pip`."""
    python: str
    """Python version of the new environment."""
    installed: list[str] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --- planning -------------------------------------------------------------------------


def plan(dists: Iterable[Distribution]) -> tuple[list[Requirement], list[Unmatched]]:
    """Split recorded distributions into installable requirements and the rest."""
    requirements, unmatched = [], []
    for dist in dists:
        try:
            line = _requirement_line(dist)
        except ValueError as exc:
            unmatched.append(Unmatched(dist.name, dist.version, str(exc)))
        else:
            requirements.append(Requirement(lockfile.normalize(dist.name), dist.version, line))
    return requirements, unmatched


def _requirement_line(dist: Distribution) -> str:
    """The requirements.txt line for `dist`; ValueError says why there is none."""
    if not _NAME.match(dist.name) or not _VERSION.match(dist.version):
        raise ValueError("the capture records an invalid name or version")
    url = dist.url or ""
    if dist.source == "index":
        return f"{dist.name}=={dist.version}"
    if dist.source in ("editable", "local"):
        where = url.removeprefix("file://") or "a folder"
        raise ValueError(
            f"{dist.source} install of {where} on the capturing machine: install your "
            "checkout into the new environment with `pip install -e PATH`"
        )
    if dist.source == "vcs" and _VCS_URL.match(url) and _COMMIT.match(dist.commit or ""):
        return f"{dist.name} @ {url}@{dist.commit}"
    if dist.source == "archive" and _ARCHIVE_URL.match(url):
        return f"{dist.name} @ {url}"
    raise ValueError(
        f"installed from {url or 'an unrecorded place'}, which cannot be fetched from here"
    )


# --- running installers ------------------------------------------------------------------


def _run(cmd: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )


def _clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _UNSAFE_ENV}
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


class _Installer:
    """How to create the environment and install into it, with uv or pip."""

    def __init__(self, venv: Path, base_python: str) -> None:
        self.venv, self.base_python = venv, base_python
        self.uv = shutil.which("uv")
        self.tool = "uv" if self.uv else "pip"
        # This interpreter's pip can install into a venv of the same Python (`pip
        # --python`), which spares the venv a pip bootstrap of its own (seconds).
        self.outer_pip = (
            self.uv is None
            and base_python == sys.executable
            and importlib.util.find_spec("pip") is not None
        )

    def create_command(self) -> list[str]:
        if self.uv:
            return [self.uv, "venv", "--quiet", "--python", self.base_python, str(self.venv)]
        extra = ["--without-pip"] if self.outer_pip else []
        return [self.base_python, "-m", "venv", *extra, str(self.venv)]

    def install_command(self, requirements_file: Path) -> list[str]:
        target = str(venv_python(self.venv))
        options = ["--no-deps", "-r", str(requirements_file)]
        if self.uv:
            return [self.uv, "pip", "install", "--python", target, *options]
        if self.outer_pip:
            return [sys.executable, "-m", "pip", "--python", target, "install", *options]
        return [target, "-m", "pip", "install", *options]


def _error_text(output: str) -> str:
    """The part of an installer's output that explains the failure."""
    m = _ERROR_START.search(output)
    return output[m.start() :] if m else output[-4000:]


def _mentions(text: str, requirement: Requirement) -> bool:
    pattern = (
        r"(?<![A-Za-z0-9._-])"
        + re.escape(requirement.name).replace(r"\-", "[-_.]")
        + r"(?![A-Za-z0-9_])"
    )
    return re.search(pattern, text, re.IGNORECASE) is not None


def _reason(output: str) -> str:
    text = _error_text(output)
    lines = [line.strip(" ×╰─▶") for line in text.splitlines() if line.strip()]
    told = (
        [line for line in lines if not line.lower().startswith("hint")]
        or lines
        or ["the installer failed"]
    )
    detail = next(
        (line for line in reversed(told) if any(k in line.lower() for k in _NOT_ON_INDEX)), told[-1]
    )
    if any(k in text.lower() for k in _NOT_ON_INDEX):
        return f"not on the package index (a private wheel, or a version it lacks): {detail[:200]}"
    return detail[:300]


def _install_all(
    installer: _Installer, requirements: list[Requirement], env: dict[str, str]
) -> list[Unmatched]:
    """Install `requirements`; return those that failed. Bulk first; on failure drop the
    packages the error names and retry, then install the unexplained rest one by one."""
    work = installer.venv / "replay-requirements.txt"

    def attempt(batch: Sequence[Requirement]) -> subprocess.CompletedProcess[str]:
        work.write_text("".join(r.line + "\n" for r in batch))
        return _run(installer.install_command(work), env)

    pending, suspects = list(requirements), []
    for _ in range(_BULK_ROUNDS):
        if not pending:
            break
        done = attempt(pending)
        if done.returncode == 0:
            pending = []
            break
        named = [r for r in pending if _mentions(_error_text(done.stdout + done.stderr), r)]
        if not named:
            break
        suspects += named
        pending = [r for r in pending if r not in named]
    failed = []
    for requirement in suspects + pending:  # each alone: confirms suspects, sorts out the rest
        done = attempt([requirement])
        if done.returncode != 0:
            failed.append(
                Unmatched(requirement.name, requirement.version, _reason(done.stdout + done.stderr))
            )
    work.write_text("".join(r.line + "\n" for r in requirements))  # what was asked, for the record
    return failed


# --- the command -------------------------------------------------------------------------


def _prepare_target(venv: Path, force: bool) -> None:
    """Refuse a non-empty folder (unless --force and it is a virtual environment), and
    always refuse the environment replay itself runs in."""
    target = venv.resolve()
    current = Path(sys.prefix).resolve()
    if target == current or target in current.parents:
        raise UsageError(
            f"{venv} holds the environment replay is running in; choose another folder"
        )
    if not venv.exists():
        return
    if not venv.is_dir():
        raise UsageError(f"{venv} exists and is not a folder")
    if not any(venv.iterdir()):
        return
    if not force:
        raise UsageError(
            f"{venv} exists and is not empty; choose another folder or pass --force to replace it"
        )
    if not (venv / "pyvenv.cfg").is_file():
        raise UsageError(
            f"--force replaces only a virtual environment, and {venv} has no pyvenv.cfg"
        )
    shutil.rmtree(venv)


def _has_pip(venv: Path) -> bool:
    return (
        any(venv.glob("lib/python*/site-packages/pip")) or (venv / "Lib/site-packages/pip").is_dir()
    )


def _python_version(python: Path, env: dict[str, str]) -> str:
    done = _run([str(python), "-c", "import platform; print(platform.python_version())"], env)
    return done.stdout.strip() or "unknown"


def create(
    manifest: Manifest,
    venv: str | os.PathLike[str],
    *,
    force: bool = False,
    python: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> CreateResult:
    """Create `venv` with the capture's distributions; report what could not be matched.

    `python` is the interpreter to base it on (default: the one running replay).
    Raises UsageError for a folder it must not use, ReplayError when the environment
    cannot be created at all.
    """
    target = Path(venv).absolute()
    base = python or sys.executable
    if shutil.which(base) is None:
        raise UsageError(f"--python {base}: no such interpreter")
    _prepare_target(target, force)
    installer = _Installer(target, base)
    env = _clean_env(target)
    progress(f"creating {target} with {installer.tool}")
    done = _run(installer.create_command(), env)
    if done.returncode != 0 or not venv_python(target).exists():
        why = _reason(done.stdout + done.stderr)
        raise ReplayError(f"could not create a virtual environment in {target}: {why}")
    result = CreateResult(str(target), installer.tool, _python_version(venv_python(target), env))
    captured = manifest.environment.python.get("version", "")
    if captured and captured.split(".")[:2] != result.python.split(".")[:2]:
        result.notes.append(
            f"the capture ran Python {captured}; this environment has {result.python} "
            "(choose another interpreter with --python)"
        )
    requirements, result.unmatched = plan(manifest.environment.distributions)
    progress(
        f"installing {len(requirements)} packages"
        f" ({len(result.unmatched)} cannot come from an index)"
    )
    failed = _install_all(installer, requirements, env) if requirements else []
    failed_names = {u.name for u in failed}
    result.installed = [r.line for r in requirements if r.name not in failed_names]
    result.unmatched += failed
    if not _has_pip(target):
        result.notes.append(
            f"no pip here (the capture had none): {venv_python(target)} -m ensurepip"
        )
    return result
