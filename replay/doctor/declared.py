"""The requirements a project declares, read from the source files a capture kept.

"It worked on my machine" is often a job environment that was not built from the
project's own requirements. The capture keeps the step's source folder, so the
`requirements*.txt`, `pyproject.toml` and conda environment files in it say which
versions the author meant; a rule can compare them with what the job really ran.
Files are parsed, never executed; an unreadable or malformed file declares nothing.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from replay.lockfile import normalize

if TYPE_CHECKING:
    from replay.doctor.context import Context

_CONDA_FILES = re.compile(r"^(environment|conda[-_\w]*|[-_\w]*conda[-_\w]*)\.ya?ml$", re.IGNORECASE)
_REQUIREMENTS_FILES = re.compile(r"^[-_\w]*requirements[-_\w]*\.(txt|in)$", re.IGNORECASE)
_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9][-A-Za-z0-9_.]*)\s*(?P<spec>[<>=!~ ].*)?$")
_NOT_PACKAGES = frozenset({"python", "pip"})


@dataclass(frozen=True)
class Declared:
    """One requirement: `pandas==1.5.3` in `requirements.txt`."""

    name: str
    """Normalised distribution name."""
    specifier: str
    """PEP 440 specifier set (`==1.5.3`, `>=1.2,<2`), "" for any version."""
    file: str
    """Source-relative path of the file that declares it."""
    line: str
    """The declaration as written."""

    def allows(self, version: str | None) -> bool:
        """Whether `version` (None: not installed) satisfies this declaration."""
        if version is None:
            return False
        if not self.specifier:
            return True
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version

        try:
            return Version(version) in SpecifierSet(self.specifier)
        except (InvalidSpecifier, InvalidVersion):
            return True  # cannot judge: claim no mismatch rather than a wrong one

    def exact(self) -> str | None:
        """The version pinned with `==` (no wildcard), if the declaration pins one."""
        match = re.fullmatch(r"===?([^,*\s]+)", self.specifier)
        return match.group(1) if match else None


def declared_requirements(ctx: Context) -> dict[str, list[Declared]]:
    """Every declaration in the captured project files, by normalised name."""
    found: dict[str, list[Declared]] = {}
    markers = ctx.manifest.environment.python
    for path in sorted(ctx.source_files):
        base = posixpath.basename(path)
        if _REQUIREMENTS_FILES.match(base):
            parse = _requirements_txt
        elif base == "pyproject.toml":
            parse = _pyproject
        elif _CONDA_FILES.match(base):
            parse = _conda
        else:
            continue
        text = ctx.source_text(path)
        if text is None:
            continue
        for name, spec, line in parse(text, markers):
            if name not in _NOT_PACKAGES:
                found.setdefault(name, []).append(Declared(name, spec, path, line))
    return found


def _pep508(text: str, markers: Mapping[str, str]) -> tuple[str, str] | None:
    """(normalised name, specifier) of a PEP 508 line, None when it is not one or its
    environment marker excludes the captured interpreter."""
    from packaging.markers import UndefinedEnvironmentName
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.marker is not None and markers:
        try:
            if not req.marker.evaluate(dict(markers)):
                return None
        except UndefinedEnvironmentName:
            pass
    return normalize(req.name), str(req.specifier)


def _requirements_txt(text: str, markers: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue  # comments, and options (-r, -e, --index-url) name no pinned version
        parsed = _pep508(line, markers)
        if parsed:
            yield (*parsed, line)


def _pyproject(text: str, markers: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    project = data.get("project")
    deps = project.get("dependencies") if isinstance(project, dict) else None
    for line in deps if isinstance(deps, list) else []:
        if isinstance(line, str) and (parsed := _pep508(line, markers)):
            yield (*parsed, line)


def _conda(text: str, markers: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return  # without PyYAML a conda file declares nothing, rather than something misread
    try:
        data: Any = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return
    deps = data.get("dependencies") if isinstance(data, dict) else None
    for item in deps if isinstance(deps, list) else []:
        if isinstance(item, str) and (parsed := _conda_spec(item)):
            yield (*parsed, item)
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            for line in item["pip"]:
                if isinstance(line, str) and (parsed := _pep508(line, markers)):
                    yield (*parsed, line)


def _conda_spec(item: str) -> tuple[str, str] | None:
    """`conda-forge::numpy=1.26=py311_0` -> (`numpy`, `==1.26.*`); `numpy>=1.2` as is."""
    text = item.split("::", 1)[-1].strip()
    match = _CONDA_SPEC.match(text)
    if not match:
        return None
    spec = (match.group("spec") or "").strip()
    if re.fullmatch(r"=?[^=<>!~,\s]+(=\S+)?", spec) and not spec.startswith("=="):
        version = spec.lstrip("=").split("=", 1)[0]  # conda's `=1.26` means 1.26.*; drop the build
        spec = f"=={version}" if version.endswith("*") else f"=={version}.*"
    return normalize(match.group("name")), spec.replace(" ", "")
