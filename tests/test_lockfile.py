"""The lockfile: installed distributions read from metadata folders, written as locks."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from replay import lockfile
from replay.bundle import Distribution


def dist_info(
    site: Path,
    folder: str,
    *,
    metadata: str | None = None,
    installer: str | None = "pip",
    direct_url: dict | None = None,
    top_level: str | None = None,
    record: str | None = None,
) -> Path:
    """A `.dist-info`/`.egg-info` folder as an installer leaves it."""
    path = site / folder
    path.mkdir(parents=True)
    if metadata is not None:
        (path / ("PKG-INFO" if folder.endswith(".egg-info") else "METADATA")).write_text(metadata)
    if installer is not None:
        (path / "INSTALLER").write_text(installer + "\n")
    if direct_url is not None:
        (path / "direct_url.json").write_text(json.dumps(direct_url))
    if top_level is not None:
        (path / "top_level.txt").write_text(top_level)
    if record is not None:
        (path / "RECORD").write_text(record)
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    site.mkdir()
    dist_info(site, "numpy-2.4.6.dist-info")
    dist_info(site, "scikit_learn-1.9.1.dist-info", top_level="sklearn\n")
    dist_info(site, "torch-2.13.0+cpu.dist-info")
    dist_info(
        site,
        "mylib-0.3.0.dist-info",
        direct_url={"url": "file:///home/bob/mylib", "dir_info": {"editable": True}},
    )
    dist_info(
        site, "localpkg-1.0.dist-info", direct_url={"url": "file:///srv/localpkg", "dir_info": {}}
    )
    dist_info(
        site,
        "gitpkg-0.1.dev3.dist-info",
        direct_url={
            "url": "https://github.com/org/gitpkg.git",
            "vcs_info": {
                "vcs": "git",
                "commit_id": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
                "requested_revision": "main",
            },
        },
    )
    dist_info(
        site,
        "wheelpkg-2.0.dist-info",
        direct_url={
            "url": "https://files.example.org/wheelpkg-2.0-py3-none-any.whl",
            "archive_info": {"hashes": {"sha256": "ab" * 32}},
        },
    )
    dist_info(
        site,
        "Legacy_Pkg.egg-info",
        metadata="Metadata-Version: 1.1\nName: Legacy.Pkg\nVersion: 0.9\n\nbody: x\n",
        installer=None,
    )
    (site / "distutils_thing-1.2-py3.11.egg-info").write_text(
        "Metadata-Version: 1.0\nName: distutils-thing\nVersion: 1.2\n"
    )
    dist_info(
        site,
        "odd-name-2.0.dist-info",
        metadata="Metadata-Version: 2.1\nName: odd-name\nVersion: 2.0\n\n",
    )
    dist_info(site, "~ip-1.0.dist-info")  # leftover of an interrupted pip run
    (site / "not_metadata.txt").write_text("x")
    return site


def by_name(dists: list[dict]) -> dict[str, dict]:
    return {d["name"]: d for d in dists}


def test_scan_reads_names_versions_and_origins_from_folders(site: Path) -> None:
    dists = by_name(lockfile.scan([str(site)]))

    assert sorted(dists) == [
        "distutils-thing",
        "gitpkg",
        "legacy-pkg",
        "localpkg",
        "mylib",
        "numpy",
        "odd-name",
        "scikit-learn",
        "torch",
        "wheelpkg",
    ]
    assert dists["numpy"] == {
        "name": "numpy",
        "version": "2.4.6",
        "installer": "pip",
        "source": "index",
        "url": None,
        "commit": None,
    }
    assert dists["torch"]["version"] == "2.13.0+cpu"
    assert (
        dists["mylib"]["source"] == "editable" and dists["mylib"]["url"] == "file:///home/bob/mylib"
    )
    assert dists["localpkg"]["source"] == "local"
    assert dists["gitpkg"] == {
        "name": "gitpkg",
        "version": "0.1.dev3",
        "installer": "pip",
        "source": "vcs",
        "url": "git+https://github.com/org/gitpkg.git",
        "commit": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    }
    assert dists["wheelpkg"]["source"] == "archive"
    assert dists["wheelpkg"]["url"].endswith("-py3-none-any.whl#sha256=" + "ab" * 32)
    assert dists["legacy-pkg"]["version"] == "0.9" and dists["legacy-pkg"]["installer"] is None
    assert dists["distutils-thing"]["version"] == "1.2"
    assert dists["odd-name"]["version"] == "2.0"
    for dist in dists.values():
        Distribution.model_validate(dist)


def test_a_password_in_a_recorded_url_is_dropped(tmp_path: Path) -> None:
    dist_info(
        tmp_path,
        "private-1.0.dist-info",
        direct_url={
            "url": "https://bob:ghp_notmine@git.example.com/org/private.git",
            "vcs_info": {"vcs": "git", "commit_id": "abc123"},
        },
    )
    dist_info(tmp_path, "broken-1.0.dist-info", direct_url=["not", "a", "dict"])  # type: ignore[arg-type]

    dists = by_name(lockfile.scan([str(tmp_path)]))

    assert dists["private"]["url"] == "git+https://bob@git.example.com/org/private.git"
    assert dists["broken"]["source"] == "index"


def test_first_distribution_on_the_path_wins(tmp_path: Path, site: Path) -> None:
    user_site = tmp_path / "user-site"
    dist_info(user_site, "NumPy-1.26.0.dist-info")

    dists = by_name(
        lockfile.scan([str(user_site), str(site), str(tmp_path / "missing"), str(site / "x.zip")])
    )

    assert dists["numpy"]["version"] == "1.26.0"
    assert len(dists) == 10


def test_module_owners_come_from_top_level_or_record(site: Path) -> None:
    dist_info(
        site,
        "pyyaml-6.0.4.dist-info",
        record="yaml/__init__.py,sha256=x,1\n_yaml/__init__.py,,\n"
        "pyyaml-6.0.4.dist-info/RECORD,,\n../../../bin/tool,,\n",
    )
    dist_info(
        site,
        "six-1.16.0.dist-info",
        record="six.py,sha256=x,1\n__pycache__/six.cpython-311.pyc,,\n",
    )

    owners = lockfile.module_owners([str(site)])

    assert owners["sklearn"] == "scikit-learn"
    assert owners["yaml"] == owners["_yaml"] == "pyyaml"
    assert owners["six"] == "six"
    assert ".." not in owners and "__pycache__" not in owners


def test_scan_of_this_interpreter_equals_importlib_metadata() -> None:
    """Same (name, version) set as importlib.metadata, for the real environment of the tests."""
    code = (
        "import json, importlib.metadata as md, replay.lockfile as L\n"
        "ours = sorted((d['name'], d['version']) for d in L.scan())\n"
        "theirs = {}\n"
        "for d in md.distributions():\n"
        "    theirs.setdefault(L.normalize(d.metadata['Name']), d.version)\n"
        "print(json.dumps([ours, sorted(theirs.items())]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ours, theirs = json.loads(done.stdout)
    assert len(ours) > 20
    assert ours == theirs


# --- writing ------------------------------------------------------------------------------


PYTHON = {
    "version": "3.11.7",
    "python_version": "3.11",
    "sys_platform": "linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
}


def test_pylock_is_valid_toml_with_the_required_fields_and_direct_sources(site: Path) -> None:
    dists = lockfile.scan([str(site)])

    data = tomllib.loads(lockfile.to_pylock(dists, PYTHON))

    assert data["lock-version"] == "1.0"
    assert data["created-by"] == "replay"
    assert data["requires-python"] == "==3.11.*"
    assert data["environments"] == [
        "sys_platform == 'linux' and platform_machine == 'x86_64' and "
        "implementation_name == 'cpython'"
    ]
    packages = {p["name"]: p for p in data["packages"]}
    assert set(packages) == {d["name"] for d in dists}
    assert packages["numpy"] == {"name": "numpy", "version": "2.4.6"}
    assert packages["mylib"]["directory"] == {"path": "/home/bob/mylib", "editable": True}
    assert "version" not in packages["mylib"]  # a source tree has no guaranteed version
    assert packages["mylib"]["tool"]["replay"]["portable"] is False
    assert packages["localpkg"]["directory"] == {"path": "/srv/localpkg", "editable": False}
    assert packages["gitpkg"]["vcs"] == {
        "type": "git",
        "url": "https://github.com/org/gitpkg.git",
        "commit-id": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    }
    assert "version" not in packages["gitpkg"] and "tool" not in packages["gitpkg"]
    assert packages["wheelpkg"]["archive"] == {
        "url": "https://files.example.org/wheelpkg-2.0-py3-none-any.whl",
        "hashes": {"sha256": "ab" * 32},
    }


def test_pylock_direct_sources_pass_the_packaging_validator(site: Path) -> None:
    """Entries with a source validate with `packaging.pylock`; index entries carry name and
    version only, because installed metadata keeps no wheel hashes (see to_pylock)."""
    pylock = pytest.importorskip("packaging.pylock")
    data = tomllib.loads(lockfile.to_pylock(lockfile.scan([str(site)]), PYTHON))
    direct = [p for p in data["packages"] if {"vcs", "directory", "archive"} & p.keys()]
    assert len(direct) == 4

    pylock.Pylock.from_dict({**data, "packages": direct})


def test_pylock_escapes_strings() -> None:
    dists = [
        {
            "name": "weird",
            "version": "1.0",
            "installer": "pip",
            "source": "editable",
            "url": 'file:///tmp/a%20"quoted"\\dir',
            "commit": None,
        }
    ]
    python = {**PYTHON, "sys_platform": "lin'ux\n\t\x7f"}

    data = tomllib.loads(lockfile.to_pylock(dists, python))

    assert data["packages"][0]["directory"]["path"] == '/tmp/a "quoted"\\dir'
    assert "lin'ux\n\t\x7f" in data["environments"][0]


def test_requirements_pin_and_mark_what_is_not_portable(site: Path) -> None:
    dists = lockfile.scan([str(site)])
    dists.append(
        {
            "name": "conda-thing",
            "version": "1.0",
            "installer": "conda",
            "source": "index",
            "url": None,
            "commit": None,
        }
    )

    lines = lockfile.to_requirements(dists).splitlines()

    assert lines[0].startswith("#")
    assert "numpy==2.4.6" in lines
    assert "torch==2.13.0+cpu" in lines
    assert (
        "-e file:///home/bob/mylib  # mylib 0.3.0: not portable, editable install from a local path"
        in lines
    )
    assert (
        "localpkg @ file:///srv/localpkg  # localpkg 1.0: not portable, local install from a local path"
        in lines
    )
    assert (
        "gitpkg @ git+https://github.com/org/gitpkg.git@1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
        in lines
    )
    assert (
        f"wheelpkg @ https://files.example.org/wheelpkg-2.0-py3-none-any.whl#sha256={'ab' * 32}"
        in lines
    )
    assert "conda-thing==1.0  # installed by conda" in lines


# --- interpreter and conda -------------------------------------------------------------------


def test_python_info_matches_the_marker_environment_of_packaging() -> None:
    markers = pytest.importorskip("packaging.markers")
    info = lockfile.python_info()

    expected = markers.default_environment()
    for key, value in expected.items():
        assert info[key] == value, key
    assert info["version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["executable"] == sys.executable
    assert all(isinstance(v, str) for v in info.values())


def test_conda_info_reads_conda_meta_cheaply(tmp_path: Path) -> None:
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    (meta / "python-3.11.7-h955ad1f_0.json").write_text(
        json.dumps(
            {
                "build": "h955ad1f_0",
                "channel": "https://repo.anaconda.com/pkgs/main/linux-64",
                "files": ["x"] * 1000,
                "name": "python",
                "version": "3.11.7",
            },
            sort_keys=True,
        )
    )
    (meta / "ca-certificates-2024.3.11-h06a4308_0.json").write_text("{}")
    (meta / "history").write_text("")

    info = lockfile.conda_info(str(tmp_path))

    assert info is not None
    assert info["prefix"] == str(tmp_path)
    assert info["packages"] == [
        {"name": "ca-certificates", "version": "2024.3.11", "build": "h06a4308_0", "channel": None},
        {
            "name": "python",
            "version": "3.11.7",
            "build": "h955ad1f_0",
            "channel": "https://repo.anaconda.com/pkgs/main/linux-64",
        },
    ]


def test_conda_info_is_none_outside_conda(tmp_path: Path) -> None:
    assert lockfile.conda_info(str(tmp_path)) is None


@pytest.mark.parametrize("module", ["replay.redact", "replay.lockfile"])
def test_agent_modules_import_only_the_standard_library(module: str) -> None:
    """The capture agent imports these inside someone else's job, on the failure path."""
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"import {module}\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names) - {'replay'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
