"""Environment drift: how the interpreter here differs from the one that ran a capture.

"It failed remotely but works here" is often a package that is missing, older, newer or
installed from somewhere else (an editable checkout, a VCS commit). `diff` compares the
capture's recorded distributions and Python with the running interpreter, and puts first
what most likely matters: the interpreter itself, then the packages whose code is in the
captured traceback. The replay engine warns with `traceback_drifts` before running,
and `doctor` turns drifts into findings.

A capture comes as a validated `Manifest` or, from the replay engine, as the same
manifest in plain JSON data (`LocalStore.load_document`, which spares a replay pydantic).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from replay import lockfile

if TYPE_CHECKING:
    from replay.bundle import Manifest

    Capture = Manifest | Mapping[str, Any]

DriftKind = Literal["python", "platform", "missing", "extra", "version", "source"]

# Import names whose distribution is named otherwise, for packages missing here (the
# current environment's metadata answers for everything installed).
_KNOWN_OWNERS = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "cv2": "opencv-python",
    "attr": "attrs",
    "dateutil": "python-dateutil",
    "bs4": "beautifulsoup4",
    "jwt": "pyjwt",
    "dotenv": "python-dotenv",
    "Crypto": "pycryptodome",
}
_SITE_DIRS = ("/site-packages/", "/dist-packages/")
_ORDER: dict[str, int] = {
    "python": 0,
    "platform": 1,
    "missing": 2,
    "version": 3,
    "source": 4,
    "extra": 5,
}


@dataclass(frozen=True)
class Drift:
    """One difference between the capture's environment and this one."""

    kind: DriftKind
    name: str
    """Normalised distribution name, or `python` / `platform`."""
    captured: str | None
    """What the capture had (a version, `1.2 (editable file:///src)`), None if absent."""
    current: str | None
    """What is here, None if absent."""
    in_traceback: bool = False
    """The captured traceback ran code of this distribution."""

    def describe(self) -> str:
        """One line for a person: `pandas: 1.5.3 in the capture, 3.1.1 here`."""
        there, here = self.captured or "not installed", self.current or "not installed"
        return f"{self.name}: {there} in the capture, {here} here"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _describe(dist: Mapping[str, Any]) -> str:
    """`1.2.0`, or `1.2.0 (editable file:///src)` / `(vcs git+https://…@abc123)`."""
    source = dist.get("source") or "index"
    if source == "index":
        return str(dist["version"])
    where = dist.get("url") or ""
    if source == "vcs" and dist.get("commit"):
        where = f"{where}@{dist['commit']}"
    return f"{dist['version']} ({source} {where})".replace(" )", ")")


def _same_source(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    kind_a, kind_b = a.get("source") or "index", b.get("source") or "index"
    if kind_a != kind_b:
        return False
    return kind_a != "vcs" or a.get("commit") == b.get("commit")


def _interpreter_drifts(captured: Mapping[str, str], current: Mapping[str, str]) -> list[Drift]:
    drifts = []
    if captured.get("version") and captured.get("version") != current.get("version"):
        drifts.append(Drift("python", "python", captured["version"], current.get("version")))
    where = [
        (k, captured.get(k), current.get(k)) for k in ("platform", "machine") if captured.get(k)
    ]
    if any(theirs != ours for _, theirs, ours in where):
        drifts.append(
            Drift(
                "platform",
                "platform",
                " ".join(str(t) for _, t, _ in where),
                " ".join(str(o) for _, _, o in where),
            )
        )
    return drifts


def _package_drifts(
    captured: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> list[Drift]:
    theirs = {lockfile.normalize(d["name"]): d for d in captured}
    ours = {lockfile.normalize(d["name"]): d for d in current}
    drifts = [Drift("missing", n, _describe(theirs[n]), None) for n in theirs.keys() - ours.keys()]
    drifts += [Drift("extra", n, None, _describe(ours[n])) for n in ours.keys() - theirs.keys()]
    for name in theirs.keys() & ours.keys():
        a, b = theirs[name], ours[name]
        if a["version"] != b["version"]:
            drifts.append(Drift("version", name, _describe(a), _describe(b)))
        elif not _same_source(a, b):
            drifts.append(Drift("source", name, _describe(a), _describe(b)))
    return drifts


def _recorded(
    manifest: Capture,
) -> tuple[list[str], Sequence[Mapping[str, Any]], Mapping[str, str]]:
    """What drift reads of a capture: the traceback's files (innermost first), the
    recorded distributions and the recorded interpreter."""
    if isinstance(manifest, Mapping):
        failure, env = manifest["failure"], manifest["environment"]
        files = [frame["file"] for frame in failure["frames"]] if failure else []
        dists, python = env["distributions"], env["python"]
    else:
        files = [frame.file for frame in manifest.failure.frames] if manifest.failure else []
        dists = [d.model_dump() for d in manifest.environment.distributions]
        python = manifest.environment.python
    return [file.replace("\\", "/") for file in reversed(files)], dists, python


def traceback_distributions(
    manifest: Capture, owners: Mapping[str, str] | None = None
) -> list[str]:
    """Distributions whose code ran in the captured traceback, innermost frame first.

    A frame under `site-packages/` is mapped by its top-level import name through
    `owners` (default: this environment's metadata, `lockfile.module_owners()`), then a
    short table of well-known aliases, then the name itself. A frame under the folder of
    an editable or local install recorded in the capture belongs to that distribution.
    """
    files, dists, _ = _recorded(manifest)
    if owners is None:
        owners = _owners_for(files)
    local_roots = _local_roots(dists)
    found: list[str] = []
    for file in files:
        name = _frame_owner(file, owners, local_roots)
        if name and name not in found:
            found.append(name)
    return found


def _owners_for(files: Iterable[str]) -> dict[str, str]:
    """This environment's import names -> distributions, read (every RECORD: tens of ms)
    only when a frame of `files` is under `site-packages/`."""
    needed = any(marker in file for file in files for marker in _SITE_DIRS)
    return lockfile.module_owners() if needed else {}


def _local_roots(dists: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(folder + '/', name) of the capture's editable and local installs, longest first."""
    from urllib.parse import unquote, urlsplit

    roots = []
    for dist in dists:
        url = dist.get("url")
        if dist.get("source") in ("editable", "local") and url and url.startswith("file:"):
            roots.append((unquote(urlsplit(url).path).rstrip("/") + "/", lockfile.normalize(dist["name"])))
    return sorted(roots, key=lambda root: -len(root[0]))


def _frame_owner(
    path: str, owners: Mapping[str, str], local_roots: list[tuple[str, str]]
) -> str | None:
    for marker in _SITE_DIRS:
        at = path.rfind(marker)
        if at >= 0:
            top = path[at + len(marker) :].split("/", 1)[0]
            module = top[:-3] if top.endswith(".py") else top.split(".", 1)[0]
            return lockfile.normalize(owners.get(module) or _KNOWN_OWNERS.get(module) or module)
    for root, name in local_roots:
        if path.startswith(root):
            return name
    return None


def diff(
    manifest: Capture,
    current: Sequence[Mapping[str, Any]] | None = None,
    *,
    python: Mapping[str, str] | None = None,
    owners: Mapping[str, str] | None = None,
) -> list[Drift]:
    """Every drift between the capture and this interpreter, most relevant first.

    `current` is a `lockfile.scan()` result and `python` a `lockfile.python_info()`
    (both default to this interpreter); `owners` maps import names to distributions
    (default: this environment's metadata). Order: Python and platform, then packages
    in the traceback (innermost first), then missing, version, source and extra ones.
    """
    current = lockfile.scan() if current is None else current
    python = lockfile.python_info() if python is None else python
    _, captured, captured_python = _recorded(manifest)
    packages = _mark_traceback(manifest, _package_drifts(captured, current), owners)
    in_trace = [d for d in packages if d.in_traceback]
    rest = sorted(
        (d for d in packages if not d.in_traceback), key=lambda d: (_ORDER[d.kind], d.name)
    )
    return _interpreter_drifts(captured_python, python) + in_trace + rest


def traceback_drifts(
    manifest: Capture,
    current: Sequence[Mapping[str, Any]] | None = None,
    *,
    python: Mapping[str, str] | None = None,
    owners: Mapping[str, str] | None = None,
) -> list[Drift]:
    """The drifts of packages whose code ran in the captured traceback, innermost first:
    what the replay engine warns about before running. This environment is not read when
    no package's code is in the traceback (most replays). Arguments as for `diff`."""
    owners = _owners_for(_recorded(manifest)[0]) if owners is None else owners
    if not traceback_distributions(manifest, owners):
        return []
    return [d for d in diff(manifest, current, python=python, owners=owners) if d.in_traceback]


def _mark_traceback(
    manifest: Capture, drifts: Iterable[Drift], owners: Mapping[str, str] | None
) -> list[Drift]:
    """All `drifts`, `in_traceback` set, the traceback's packages first (innermost first)."""
    order = {name: i for i, name in enumerate(traceback_distributions(manifest, owners))}
    marked = [replace(d, in_traceback=d.name in order) for d in drifts]
    return sorted(marked, key=lambda d: order.get(d.name, len(order)))
