"""Record the installed distributions of this interpreter, fast, and write them as locks.

The capture agent calls `scan()` on the failure path inside the job, so this module uses
the standard library only and reads the metadata folders on `sys.path` itself: one
directory listing per path entry and two small reads per distribution. A loop over
`importlib.metadata` parses every METADATA file (92 ms for 130 distributions here) and
`pip freeze` pays for importing pip (215 ms); listing the folders costs about 11 ms.

The name and version come from the folder name (`name-version.dist-info`, written
normalised by installers, PEP 427/491); METADATA is read only when the folder name does not
say (`.egg-info`, legacy names). PEP 610's `direct_url.json` tells where a distribution
came from: an index, an editable or plain local directory, a VCS commit or an archive.

`to_pylock` and `to_requirements` turn the result into a PEP 751 `pylock.toml` and a
pinned `requirements.txt`; `python_info` and `conda_info` describe the interpreter.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the agent should not pay for typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any

    Dist = dict[str, Any]
    """One distribution, with the fields of `replay.bundle.Distribution`."""

_MAX_HEADER = 64 << 10  # the Name and Version lines sit at the top of METADATA


def normalize(name: str) -> str:
    """PEP 503 name normalisation: `Foo.Bar_baz` -> `foo-bar-baz`."""
    parts = name.replace("_", "-").replace(".", "-").lower().split("-")
    return "-".join(part for part in parts if part) if "" in parts else "-".join(parts)


class _Found:
    """A metadata folder (`.dist-info`, `.egg-info`, `EGG-INFO`, or a PKG-INFO file) and
    the distribution it describes."""

    __slots__ = ("folder", "name", "version")

    def __init__(self, name: str, version: str, folder: str) -> None:
        self.name, self.version, self.folder = name, version, folder


# --- scanning ---------------------------------------------------------------------------


def _read_header(path: str) -> tuple[str, str] | None:
    """(Name, Version) from the top of a METADATA / PKG-INFO file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(_MAX_HEADER)
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in head.splitlines():
        if not line.strip():
            break  # end of the header block; the description follows
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    if fields.get("Name") and fields.get("Version"):
        return fields["Name"], fields["Version"]
    return None


def _named(entry: str) -> tuple[str, str] | None:
    """(name, version) from a `.dist-info` folder's name, when that is unambiguous."""
    if not entry.endswith(".dist-info"):
        return None
    name, sep, version = entry[: -len(".dist-info")].partition("-")
    return (name, version) if sep and name and version and "-" not in version else None


def _from_folder(directory: str, entry: str) -> _Found | None:
    """Name and version of one metadata folder, from its name when that is unambiguous."""
    folder = os.path.join(directory, entry)
    if entry.endswith(".dist-info"):
        if named := _named(entry):
            return _Found(normalize(named[0]), named[1], folder)
        header = _read_header(os.path.join(folder, "METADATA"))
    else:  # .egg-info: a folder with PKG-INFO, or (distutils) the PKG-INFO file itself
        header = _read_header(os.path.join(folder, "PKG-INFO")) or _read_header(folder)
        name, _, rest = entry[: -len(".egg-info")].partition("-")
        if header is None and name and rest:  # name-version[-pyX.Y]
            header = (name, rest.partition("-")[0])
    return _Found(normalize(header[0]), header[1], folder) if header else None


def _found_in(entry: str) -> Iterator[_Found]:
    """The distributions one `sys.path` entry holds, in a stable order."""
    directory = entry or "."
    if directory.endswith(".egg"):  # an egg on sys.path: its metadata is EGG-INFO/PKG-INFO
        header = _read_header(os.path.join(directory, "EGG-INFO", "PKG-INFO"))
        if header:
            yield _Found(normalize(header[0]), header[1], os.path.join(directory, "EGG-INFO"))
        return
    try:
        names = os.listdir(directory)
    except OSError:  # missing, not a directory, or a zip: importlib reads zips, we skip them
        return
    for name in sorted(names):
        if _is_metadata(name):
            found = _from_folder(directory, name)
            if found is not None:
                yield found


def _is_metadata(name: str) -> bool:
    """A distribution's metadata folder (or distutils' PKG-INFO file); pip leaves
    `~`-prefixed ones behind while it uninstalls."""
    return name.endswith((".dist-info", ".egg-info")) and not name.startswith("~")


def _iter_found(path: Iterable[str] | None) -> Iterator[_Found]:
    """Every distribution on `path` (default `sys.path`), first on the path wins."""
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        for found in _found_in(entry):
            if found.name not in seen:
                seen.add(found.name)
                yield found


def _read_small(path: str, limit: int = _MAX_HEADER) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return None


def _origin(folder: str) -> dict[str, Any]:
    """source/url/commit from PEP 610 `direct_url.json`; an index when there is none.

    A VCS url keeps its `git+` prefix (as pip writes requirements); an archive url
    carries its hash as a `#sha256=...` fragment, which pip checks on install. A password
    in a url (PEP 610 forbids them, not every installer obeys) is dropped.
    """
    text = _read_small(os.path.join(folder, "direct_url.json"))
    index = {"source": "index", "url": None, "commit": None}
    if text is None:
        return index
    from replay.document import loads

    try:
        data = loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser takes
        return index
    if not isinstance(data, dict):
        return index
    url = _without_password(str(data.get("url") or "")) or None
    if isinstance(data.get("vcs_info"), dict):
        vcs = data["vcs_info"]
        prefixed = f"{vcs.get('vcs') or 'git'}+{url}" if url else None
        commit = vcs.get("commit_id")
        return {"source": "vcs", "url": prefixed, "commit": str(commit) if commit else None}
    if isinstance(data.get("dir_info"), dict):
        editable = bool(data["dir_info"].get("editable"))
        return {"source": "editable" if editable else "local", "url": url, "commit": None}
    digest = _archive_hash(data.get("archive_info"))
    if url and digest and "#" not in url:
        url = f"{url}#{digest}"
    return {"source": "archive", "url": url, "commit": None}


def _without_password(url: str) -> str:
    """`https://user:secret@host/x` -> `https://user@host/x`; other urls unchanged."""
    if "@" not in url:
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}@{host}" if parts.username else host
    return parts._replace(netloc=netloc).geturl()


def _archive_hash(info: Any) -> str | None:
    """`sha256=<hex>` of an archive install, from PEP 610's `hashes` or legacy `hash`."""
    if not isinstance(info, dict):
        return None
    hashes = info.get("hashes")
    if isinstance(hashes, dict) and hashes:
        algorithm = "sha256" if "sha256" in hashes else sorted(hashes)[0]
        return f"{algorithm}={hashes[algorithm]}"
    legacy = info.get("hash")
    return legacy if isinstance(legacy, str) and "=" in legacy else None


def scan(path: Iterable[str] | None = None) -> list[Dist]:
    """The installed distributions of `path` (default `sys.path`), sorted by name.

    Each is a dict of `bundle.Distribution` fields: `name` (normalised), `version`,
    `installer`, `source` (`index`, `editable`, `local`, `vcs`, `archive`), `url` and
    `commit` (of a VCS install).
    """
    dists = []
    for found in _iter_found(path):
        installer = (_read_small(os.path.join(found.folder, "INSTALLER")) or "").strip() or None
        dists.append(
            {
                "name": found.name,
                "version": found.version,
                "installer": installer,
                **_origin(found.folder),
            }
        )
    return sorted(dists, key=lambda d: d["name"])


def fingerprint(python: Mapping[str, str], path: Iterable[str] | None = None) -> str:
    """What `scan(path)` and the lockfiles made from it depend on, read without opening
    a file: the interpreter (`python_info()`), and per `path` entry (default `sys.path`)
    the identity, size and times of its metadata folders and of the files `scan` reads
    in them. Other entries of a folder, such as the outputs a job writes into its
    working folder, do not count. A digest: the index keys its remembered environments
    by it, and the facts run to ~20 KB for 60 distributions."""
    from replay.hashing import digest_bytes

    parts = [f"{key}={value}" for key, value in sorted(python.items())]
    for entry in sys.path if path is None else path:
        directory = entry or "."
        parts.append(entry)
        if directory.endswith(".egg"):  # its metadata folder, as `_found_in` reads it
            folders = [(os.path.join(directory, "EGG-INFO"), _HEADER_READS)]
        else:
            try:
                names = sorted(name for name in os.listdir(directory) if _is_metadata(name))
            except OSError:
                continue
            folders = [(os.path.join(directory, name),
                        ("INSTALLER", "direct_url.json") if _named(name) else _HEADER_READS)
                       for name in names]
        for folder, read in folders:
            for item in (folder, *(os.path.join(folder, f) for f in read)):
                try:
                    st = os.stat(item)
                except OSError:  # most folders lack direct_url.json; a PKG-INFO file, all
                    continue
                parts.append(f"{item}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}")
    return "env:" + digest_bytes("\n".join(parts).encode("utf-8", "surrogateescape"))


_HEADER_READS = ("INSTALLER", "direct_url.json", "METADATA", "PKG-INFO")
"""What `scan` may read in a metadata folder whose name does not say the version."""


def module_owners(path: Iterable[str] | None = None) -> dict[str, str]:
    """Top-level import name -> distribution name, for the distributions on `path`.

    Read from `top_level.txt` when the installer wrote one, else from the first path
    component of each RECORD entry; the env diff uses it to tell which distribution a
    traceback frame under `site-packages/` belongs to.
    """
    owners: dict[str, str] = {}
    for found in _iter_found(path):
        for module in _top_levels(found.folder):
            owners.setdefault(module, found.name)
    return owners


_NOT_MODULES = ("..", "__pycache__")
_NOT_MODULE_SUFFIXES = (".dist-info", ".data", ".pth")


def _top_levels(folder: str) -> set[str]:
    """Import names a distribution installs: `top_level.txt`, else RECORD's first parts."""
    listed = _read_small(os.path.join(folder, "top_level.txt"))
    if listed is not None:
        return {line.strip() for line in listed.splitlines() if line.strip()}
    modules: set[str] = set()
    try:
        with open(os.path.join(folder, "RECORD"), encoding="utf-8", errors="replace") as f:
            for line in f:
                first = line.split(",", 1)[0].strip('"').split("/", 1)[0]
                if first and first not in _NOT_MODULES and not first.endswith(_NOT_MODULE_SUFFIXES):
                    modules.add(first[:-3] if first.endswith(".py") else first.split(".", 1)[0])
    except OSError:
        pass
    return modules


# --- the interpreter ----------------------------------------------------------------


def python_info() -> dict[str, str]:
    """This interpreter: friendly keys plus the PEP 508 marker environment.

    Values are strings (the manifest stores `dict[str, str]`). `os.uname` stands in for
    the `platform` module, which costs milliseconds to import on the failure path.
    """
    impl = sys.implementation
    version = ".".join(str(part) for part in sys.version_info[:3])
    impl_version = ".".join(str(part) for part in impl.version[:3])
    if impl.version.releaselevel != "final":
        impl_version += impl.version.releaselevel[0] + str(impl.version.serial)
    if hasattr(os, "uname"):
        uname = os.uname()
        system, release, machine, kernel = (
            uname.sysname,
            uname.release,
            uname.machine,
            uname.version,
        )
    else:  # Windows
        import platform

        system, release, machine, kernel = (
            platform.system(),
            platform.release(),
            platform.machine(),
            platform.version(),
        )
    return {
        "version": version,
        "implementation": impl.name,
        "platform": sys.platform,
        "machine": machine,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "sys_version": sys.version,
        # PEP 508 marker environment
        "implementation_name": impl.name,
        "implementation_version": impl_version,
        "os_name": os.name,
        "platform_machine": machine,
        "platform_python_implementation": _IMPLEMENTATION_NAMES.get(impl.name, impl.name),
        "platform_release": release,
        "platform_system": system,
        "platform_version": kernel,
        "python_full_version": version
        if sys.version_info.releaselevel == "final"
        else sys.version.split()[0],
        "python_version": ".".join(str(part) for part in sys.version_info[:2]),
        "sys_platform": sys.platform,
    }


_IMPLEMENTATION_NAMES = {
    "cpython": "CPython",
    "pypy": "PyPy",
    "ironpython": "IronPython",
    "jython": "Jython",
}


def conda_info(prefix: str | None = None) -> dict[str, Any] | None:
    """The conda environment this interpreter comes from, or None outside conda.

    Looked for in `prefix`, else this interpreter's prefix, its base (a venv made from a
    conda Python), then `CONDA_PREFIX`. Package names, versions and builds come from the
    `conda-meta/*.json` file names; the channel from the first 4 KiB of each file (conda
    writes keys sorted, `channel` before the long `files` list): no file is parsed whole.
    """
    candidates = (
        [prefix] if prefix else [sys.prefix, sys.base_prefix, os.environ.get("CONDA_PREFIX")]
    )
    found = next(
        ((root, names) for root in filter(None, candidates) if (names := _listing(root))), None
    )
    if found is None:
        return None
    root, names = found
    meta = os.path.join(root, "conda-meta")
    packages = []
    for name in names:
        rest, _, build = name.removesuffix(".json").rpartition("-")
        package, _, version = rest.rpartition("-")
        if not (name.endswith(".json") and package and version and build):
            continue
        head = _read_small(os.path.join(meta, name), 4096) or ""
        packages.append(
            {"name": package, "version": version, "build": build, "channel": _channel(head)}
        )
    return {
        "prefix": root,
        "env_name": os.environ.get("CONDA_DEFAULT_ENV") or os.path.basename(root),
        "packages": packages,
    }


def _channel(head: str) -> str | None:
    """The `"channel": "..."` string of the start of a conda-meta record."""
    key = head.find('"channel"')
    colon = head.find(":", key) if key >= 0 else -1
    start = head.find('"', colon + 1) if colon >= 0 else -1
    end = head.find('"', start + 1) if start >= 0 else -1
    if end < 0 or head[colon + 1 : start].strip():
        return None
    return head[start + 1 : end]


def _listing(root: str) -> list[str]:
    """The sorted `conda-meta` folder of a prefix; empty when there is none."""
    try:
        return sorted(os.listdir(os.path.join(root, "conda-meta")))
    except OSError:
        return []


# --- writing -------------------------------------------------------------------------


def is_portable(dist: Mapping[str, Any]) -> bool:
    """Whether another machine can install this distribution from what was recorded:
    index and VCS/archive URLs can be fetched; editable and local paths cannot."""
    source = dist.get("source", "index")
    if source == "index":
        return True
    scheme = _scheme(str(dist.get("url") or ""))
    return source in ("vcs", "archive") and scheme not in ("", "file", "git+file")


def _unportable_reason(dist: Mapping[str, Any]) -> str:
    return f"{dist.get('source', 'index')} install from a local path"


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def _path_of(url: str) -> str:
    """The local path of a `file:` url (other urls unchanged)."""
    if _scheme(url) != "file":
        return url
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).path)


def _note(dist: Mapping[str, Any]) -> str:
    """The comment a requirement line needs, if any."""
    if not is_portable(dist):
        return f"  # {dist['name']} {dist['version']}: not portable, {_unportable_reason(dist)}"
    if dist.get("source") == "editable":
        return f"  # {dist['name']} {dist['version']}"
    installer = dist.get("installer")
    return f"  # installed by {installer}" if installer and installer not in ("pip", "uv") else ""


def to_requirements(dists: Iterable[Mapping[str, Any]]) -> str:
    """Pinned `requirements.txt`: `name==version`, `-e URL` for editables, `name @
    git+URL@commit` for VCS installs; comments mark what cannot be installed elsewhere."""
    lines = ["# Recorded by replay; install with: pip install --no-deps -r requirements.txt"]
    for dist in dists:
        source, url = dist.get("source", "index"), dist.get("url")
        if source == "editable" and url:
            line = f"-e {url}"
        elif source == "vcs" and url and dist.get("commit"):
            line = f"{dist['name']} @ {url}@{dist['commit']}"
        elif source in ("local", "archive") and url:
            line = f"{dist['name']} @ {url}"
        else:
            line = f"{dist['name']}=={dist['version']}"
        lines.append(line + _note(dist))
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_TOML_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _inline_table(items: Mapping[str, Any]) -> str:
    parts = []
    for key, value in items.items():
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, dict):
            rendered = _inline_table(value)
        else:
            rendered = _toml_string(str(value))
        bare = key and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in key)
        parts.append(f"{key if bare else _toml_string(key)} = {rendered}")
    return "{ " + ", ".join(parts) + " }"


def _environment_marker(python: Mapping[str, str]) -> str:
    keys = ("sys_platform", "platform_machine", "implementation_name")
    return " and ".join(f"{key} == '{python[key]}'" for key in keys if python.get(key))


def _package_source(dist: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The PEP 751 source table of a direct install: vcs, directory or archive (None for
    an index install, or an archive whose hash was not recorded)."""
    source, url = dist.get("source", "index"), str(dist.get("url") or "")
    if source == "vcs" and url and dist.get("commit"):
        kind, _, bare = url.partition("+")
        return "vcs", {"type": kind, "url": bare, "commit-id": dist["commit"]}
    if source in ("editable", "local") and url:
        return "directory", {"path": _path_of(url), "editable": source == "editable"}
    bare, _, fragment = url.partition("#")
    algorithm, _, digest = fragment.partition("=")
    if source == "archive" and bare and digest:  # the spec requires an archive's hash
        where = {"url": bare} if _scheme(bare) != "file" else {"path": _path_of(bare)}
        return "archive", {**where, "hashes": {algorithm: digest}}
    return None


def to_pylock(dists: Iterable[Mapping[str, Any]], python: Mapping[str, str]) -> str:
    """A PEP 751 `pylock.toml` of the recorded distributions, for the capturing interpreter.

    Direct installs get their `vcs`/`directory`/`archive` source (no `version` for source
    trees, as the spec requires). Index installs get name and version only: an installed
    environment does not keep the hashes of the wheels it came from, so those entries
    record what ran rather than lock files to download; `replay env create` installs them
    from the pinned requirements. Entries another machine cannot install carry
    `[packages.tool.replay] portable = false`.
    """
    lines = [
        "# Recorded by replay from the environment that ran the step. Index packages carry",
        "# name and version only (installed metadata keeps no wheel hashes).",
        'lock-version = "1.0"',
    ]
    marker = _environment_marker(python)
    if marker:
        lines.append(f"environments = [{_toml_string(marker)}]")
    if python.get("python_version"):
        lines.append(f"requires-python = {_toml_string('==' + python['python_version'] + '.*')}")
    lines.append('created-by = "replay"')
    for dist in dists:
        lines += ["", "[[packages]]", f"name = {_toml_string(dist['name'])}"]
        source = _package_source(dist)
        if source is None or source[0] == "archive":
            lines.append(f"version = {_toml_string(dist['version'])}")
        if source is not None:
            lines.append(f"{source[0]} = {_inline_table(source[1])}")
        if not is_portable(dist):
            lines += [
                "[packages.tool.replay]",
                "portable = false",
                f"reason = {_toml_string(_unportable_reason(dist))}",
            ]
    return "\n".join(lines) + "\n"
