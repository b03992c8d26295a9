"""Real virtual environments: the lockfile of a fresh venv, and `replay env create`.

Everything installs from wheels built here by a PEP 517/660 backend small enough to live
in this file, with pip's index switched off: no network, and the same on every machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from replay import cli, lockfile
from replay.bundle import Distribution, Environment, Manifest
from replay.envcreate import create, plan, venv_python
from replay.errors import UsageError
from tests.manifests import job_manifest

pytestmark = pytest.mark.slow

BACKEND = '''
"""Builds pure-Python wheels of the project named in project.txt (PEP 517 and PEP 660)."""
import base64, hashlib, os, zipfile


def write_wheel(directory, name, version, files):
    dist = f"{name}-{version}"
    files = {**files,
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n\\n",
             f"{dist}.dist-info/WHEEL":
                 "Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    filename = f"{dist}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as wheel:
        for path, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            wheel.writestr(path, data)
            record.append(f"{path},sha256={digest},{len(data)}")
        wheel.writestr(f"{dist}.dist-info/RECORD", "\\n".join(record + [f"{dist}.dist-info/RECORD,,"]) + "\\n")
    return filename


def _project():
    with open("project.txt") as f:
        return f.read().split()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = _project()
    with open(os.path.join(name, "__init__.py")) as f:
        return write_wheel(wheel_directory, name, version, {f"{name}/__init__.py": f.read()})


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = _project()
    return write_wheel(wheel_directory, name, version, {f"_{name}_editable.pth": os.path.abspath(".") + "\\n"})
'''


def write_wheel(directory: Path, name: str, version: str) -> Path:
    """A wheel of package `name` whose `__init__` knows its version (the backend's code)."""
    namespace: dict = {}
    exec(BACKEND, namespace)
    source = f"VERSION = {version!r}\n"
    return directory / namespace["write_wheel"](
        str(directory), name, version, {f"{name}/__init__.py": source}
    )


def make_project(root: Path, name: str, version: str) -> Path:
    """A source checkout that installs with the backend above, editable or not."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (root / "_backend").mkdir()
    (root / "_backend" / "tinybackend.py").write_text(BACKEND)
    (root / "project.txt").write_text(f"{name} {version}\n")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "tinybackend"\nbackend-path = ["_backend"]\n'
    )
    return root


@pytest.fixture
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A find-links folder with tinylib 1.0 and pip's index switched off, for pip and uv."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    write_wheel(folder, "tinylib", "1.0")
    for key, value in {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(folder),
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(folder),
    }.items():
        monkeypatch.setenv(key, value)
    return folder


def pip_into(python: Path, *args: str) -> None:
    """This interpreter's pip, installing into another environment."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--quiet",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def hide_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take uv off PATH, so that env create takes the venv + pip road."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    monkeypatch.setenv("PATH", os.pathsep.join(f for f in folders if not (Path(f) / "uv").exists()))


def installed_here() -> set[tuple[str, str, str]]:
    return {(d["name"], d["version"], d["source"]) for d in lockfile.scan()}


# --- the lockfile of a real venv --------------------------------------------------------------


def test_lockfile_of_a_fresh_venv_with_index_archive_and_editable_installs(
    tmp_path: Path, wheels: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv_python(venv)
    project = make_project(tmp_path / "tinyapp-src", "tinyapp", "0.2")
    archive = write_wheel(tmp_path, "tinyarchive", "3.1")
    pip_into(python, "tinylib==1.0")
    pip_into(python, str(archive))
    pip_into(python, "-e", str(project))
    repo = str(Path(__file__).resolve().parents[1])
    code = (
        f"import sys, json, importlib.metadata as md; sys.path.append({repo!r})\n"
        "from replay import lockfile as L\n"
        "theirs = sorted({(L.normalize(d.metadata['Name']), d.version) for d in md.distributions()})\n"
        "print(json.dumps({'scan': L.scan(), 'theirs': theirs}))\n"
    )

    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)

    out = json.loads(done.stdout)
    dists = {d["name"]: d for d in out["scan"]}
    assert sorted((d["name"], d["version"]) for d in out["scan"]) == [
        tuple(t) for t in out["theirs"]
    ]
    assert dists["tinylib"] == {
        "name": "tinylib",
        "version": "1.0",
        "installer": "pip",
        "source": "index",
        "url": None,
        "commit": None,
    }
    assert dists["tinyarchive"]["source"] == "archive"
    assert dists["tinyarchive"]["url"].startswith(archive.as_uri() + "#sha256=")
    assert dists["tinyapp"]["source"] == "editable"
    assert dists["tinyapp"]["url"] == project.as_uri()
    requirements = lockfile.to_requirements(out["scan"])
    assert "tinylib==1.0" in requirements.splitlines()
    assert f"-e {project.as_uri()}  # tinyapp 0.2: not portable" in requirements


# --- env create ---------------------------------------------------------------------------------


def manifest_with(distributions: list[Distribution], python_version: str | None = None) -> Manifest:
    python = python_version or ".".join(map(str, sys.version_info[:3]))
    return job_manifest(
        id="0123456789ab",
        environment=Environment(python={"version": python}, distributions=distributions),
    )


CAPTURED = [
    Distribution(name="tinylib", version="1.0"),
    Distribution(name="tinylib2", version="2.0"),  # no index has it
    Distribution(name="myapp", version="0.1", source="editable", url="file:///mnt/src/myapp"),
]


@pytest.fixture
def env_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register `env` for these tests whether or not the lead has added its row yet."""


@pytest.mark.parametrize("tool", ["pip", "uv"])
def test_env_create_installs_what_it_can_and_reports_the_rest(
    tool: str, tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if tool == "uv" and shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    if tool == "pip":
        hide_uv(monkeypatch)
    before = installed_here()
    venv = tmp_path / "rebuilt"

    result = create(manifest_with(CAPTURED), venv)

    assert result.tool == tool
    assert result.installed == ["tinylib==1.0"]
    reasons = {u.name: u.reason for u in result.unmatched}
    assert set(reasons) == {"tinylib2", "myapp"}
    assert reasons["tinylib2"].startswith("not on the package index")
    assert "editable install of /mnt/src/myapp" in reasons["myapp"]
    check = subprocess.run(
        [str(venv_python(venv)), "-c", "import tinylib; print(tinylib.VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "1.0"
    assert (venv / "replay-requirements.txt").read_text() == "tinylib==1.0\ntinylib2==2.0\n"
    assert installed_here() == before  # the environment running replay is untouched


def test_env_create_command_prints_json_and_exits_1_when_something_is_unmatched(
    env_command: None, tmp_path: Path, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from replay.store import LocalStore

    store = tmp_path / "store"
    LocalStore(store).publish(manifest_with(CAPTURED, python_version="3.8.10"))

    code = cli.main(
        ["env", "create", "0123", "--venv", str(tmp_path / "v"), "--store", str(store), "--json"]
    )

    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert code == 1
    assert out["installed"] == ["tinylib==1.0"]
    assert sorted(u["name"] for u in out["unmatched"]) == ["myapp", "tinylib2"]
    assert out["notes"] and "the capture ran Python 3.8.10" in out["notes"][0]
    assert "replay: creating" in captured.err


def test_env_create_refuses_a_non_empty_folder_unless_forced_onto_a_venv(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    manifest = manifest_with([])

    with pytest.raises(UsageError, match="not empty"):
        create(manifest, folder)
    with pytest.raises(UsageError, match="only a virtual environment"):
        create(manifest, folder, force=True)
    assert (folder / "keep.txt").read_text() == "mine"

    venv = tmp_path / "old-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "stale.txt").write_text("x")
    result = create(manifest, venv, force=True)
    assert result.unmatched == [] and not (venv / "stale.txt").exists()
    assert venv_python(venv).exists()


def test_env_create_never_uses_the_running_environment(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="environment replay is running in"):
        create(manifest_with([]), sys.prefix, force=True)


def test_env_create_names_a_missing_interpreter(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such interpreter"):
        create(manifest_with([]), tmp_path / "v", python=str(tmp_path / "python9.9"))
    assert not (tmp_path / "v").exists()


def test_plan_rebuilds_requirement_lines_and_refuses_hostile_records() -> None:
    dists = [
        Distribution(name="six", version="1.16.0"),
        Distribution(
            name="gitpkg",
            version="0.1",
            source="vcs",
            url="git+https://github.com/org/gitpkg.git",
            commit="1a2b3c4d",
        ),
        Distribution(
            name="wheelpkg",
            version="2.0",
            source="archive",
            url="https://files.example.org/wheelpkg-2.0-py3-none-any.whl#sha256=" + "ab" * 32,
        ),
        Distribution(name="evil", version="1.0 --index-url https://evil.example"),
        Distribution(name="--index-url=https://evil.example", version="1"),
        Distribution(name="localwheel", version="1", source="archive", url="file:///tmp/x.whl"),
        Distribution(
            name="gitfile", version="1", source="vcs", url="git+file:///srv/repo", commit="abcd1234"
        ),
    ]

    requirements, unmatched = plan(dists)

    assert [r.line for r in requirements] == [
        "six==1.16.0",
        "gitpkg @ git+https://github.com/org/gitpkg.git@1a2b3c4d",
        f"wheelpkg @ https://files.example.org/wheelpkg-2.0-py3-none-any.whl#sha256={'ab' * 32}",
    ]
    assert [u.name for u in unmatched] == [
        "evil",
        "--index-url=https://evil.example",
        "localwheel",
        "gitfile",
    ]


def test_installs_ignore_variables_that_would_redirect_pip(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_TARGET", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "elsewhere"))
    hide_uv(monkeypatch)

    result = create(manifest_with([Distribution(name="tinylib", version="1.0")]), tmp_path / "v")

    assert result.installed == ["tinylib==1.0"] and not result.unmatched
    assert not (tmp_path / "elsewhere").exists()
    assert os.environ["PIP_TARGET"] == str(tmp_path / "elsewhere")


def test_env_create_command_text_report_and_refusal(
    env_command: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from replay.store import LocalStore

    store = tmp_path / "store"
    LocalStore(store).publish(manifest_with([]))
    venv = tmp_path / "empty-venv"
    argv = ["env", "create", "0123", "--venv", str(venv), "--store", str(store)]

    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"created {venv} with ")
    assert "0 package(s) installed" in out and f"activate: source {venv}/bin/activate" in out

    assert cli.main(argv) == 2  # now it exists and is not empty
    assert "pass --force to replace it" in capsys.readouterr().err
