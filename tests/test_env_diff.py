"""`replay env diff`: drift between a capture's environment and this interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay import cli, lockfile
from replay.bundle import Environment, Failure, Frame, Manifest
from replay.envdiff import Drift, diff, traceback_distributions, traceback_drifts
from replay.store import LocalStore
from tests.manifests import job_manifest

SITE = "/azureml-envs/azureml_1/lib/python3.8/site-packages"
CAPTURED_PYTHON = {
    "version": "3.8.10",
    "platform": "linux",
    "machine": "x86_64",
    "implementation": "cpython",
}


def dist(
    name: str,
    version: str,
    source: str = "index",
    url: str | None = None,
    commit: str | None = None,
) -> dict:
    return {
        "name": name,
        "version": version,
        "installer": "pip",
        "source": source,
        "url": url,
        "commit": commit,
    }


def make_manifest(
    distributions: list[dict], frames: list[tuple[str, str]], python: dict | None = None
) -> Manifest:
    return job_manifest(
        failure=Failure(
            type="KeyError",
            message="'customer_id'",
            frames=[Frame(file=file, line=10, function=function) for file, function in frames],
            site=0,
        ),
        environment=Environment(
            python=CAPTURED_PYTHON if python is None else python, distributions=distributions
        ),
    )


CAPTURED = [
    dist("pandas", "1.5.3"),
    dist("numpy", "1.24.4"),
    dist("scikit-learn", "1.2.2"),
    dist("azureml-core", "1.55.0"),
    dist("mylib", "0.3.0", "editable", "file:///mnt/src/mylib"),
    dist("gitpkg", "0.1", "vcs", "git+https://github.com/org/gitpkg.git", "aaaa1111"),
    dist("six", "1.16.0"),
]
CURRENT = [
    dist("pandas", "3.1.1"),
    dist("numpy", "1.24.4"),
    dist("mylib", "0.3.0"),
    dist("gitpkg", "0.1", "vcs", "git+https://github.com/org/gitpkg.git", "bbbb2222"),
    dist("six", "1.16.0"),
    dist("pytest", "8.4.2"),
]
FRAMES = [  # outermost first, as a traceback lists them
    ("/mnt/job/score.py", "main"),
    ("/mnt/src/mylib/features.py", "build"),
    (f"{SITE}/sklearn/pipeline.py", "fit"),
    (f"{SITE}/pandas/core/frame.py", "__getitem__"),
    ("/usr/lib/python3.8/json/__init__.py", "loads"),
]
HERE = {"version": "3.11.7", "platform": "linux", "machine": "x86_64"}
OWNERS = {"pandas": "pandas", "numpy": "numpy"}  # scikit-learn is not installed here


def test_diff_reports_each_kind_of_drift_interpreter_first_then_traceback() -> None:
    manifest = make_manifest(CAPTURED, FRAMES)

    drifts = diff(manifest, CURRENT, python=HERE, owners=OWNERS)

    assert [(d.kind, d.name, d.in_traceback) for d in drifts] == [
        ("python", "python", False),
        ("version", "pandas", True),  # innermost package frame first
        ("missing", "scikit-learn", True),  # found through the alias table: sklearn is missing here
        ("source", "mylib", True),  # a frame under the capture's editable checkout
        ("missing", "azureml-core", False),
        ("source", "gitpkg", False),
        ("extra", "pytest", False),
    ]
    by_name = {d.name: d for d in drifts}
    assert by_name["python"].captured == "3.8.10" and by_name["python"].current == "3.11.7"
    assert by_name["pandas"].captured == "1.5.3" and by_name["pandas"].current == "3.1.1"
    assert by_name["mylib"].captured == "0.3.0 (editable file:///mnt/src/mylib)"
    assert by_name["mylib"].current == "0.3.0"
    assert by_name["gitpkg"].captured.endswith("@aaaa1111)") and by_name["gitpkg"].current.endswith(
        "@bbbb2222)"
    )
    assert by_name["azureml-core"].current is None and by_name["pytest"].captured is None


def test_no_drift_when_environments_match() -> None:
    manifest = make_manifest(
        CURRENT, FRAMES, python={"version": "3.11.7", "platform": "linux", "machine": "x86_64"}
    )
    assert diff(manifest, CURRENT, python=HERE, owners=OWNERS) == []


def test_platform_drift_is_reported() -> None:
    manifest = make_manifest(
        CURRENT, FRAMES, python={"version": "3.11.7", "platform": "linux", "machine": "x86_64"}
    )
    drifts = diff(
        manifest,
        CURRENT,
        python={"version": "3.11.7", "platform": "darwin", "machine": "arm64"},
        owners=OWNERS,
    )
    assert drifts == [Drift("platform", "platform", "linux x86_64", "darwin arm64")]


def test_traceback_drifts_are_the_traceback_packages_innermost_first() -> None:
    manifest = make_manifest(CAPTURED, FRAMES)

    relevant = traceback_drifts(manifest, CURRENT, python=HERE, owners=OWNERS)

    assert [(d.name, d.in_traceback) for d in relevant] == [
        ("pandas", True), ("scikit-learn", True), ("mylib", True)]
    assert relevant[0].describe() == "pandas: 1.5.3 in the capture, 3.1.1 here"
    assert (
        Drift("missing", "six", "1.16.0", None).describe()
        == "six: 1.16.0 in the capture, not installed here"
    )


def test_traceback_distributions_use_this_environments_metadata_by_default() -> None:
    here = lockfile.module_owners()
    assert here.get("yaml") == "pyyaml"  # pyyaml is a dependency of the test environment
    manifest = make_manifest(
        [], [(f"{SITE}/yaml/constructor.py", "construct"), (f"{SITE}/six.py", "reraise")]
    )

    assert traceback_distributions(manifest) == ["six", "pyyaml"]


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def env_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register `env` for these tests whether or not the lead has added its row yet."""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    here = {d["name"]: d for d in lockfile.scan()}
    captured = [
        dist("pandas", "1.5.3"),  # installed here in another version
        dist("definitely-not-installed-pkg", "1.0"),
        dist("pyyaml", here["pyyaml"]["version"], "editable", "file:///mnt/src/pyyaml"),
        *(d for name, d in here.items() if name not in ("pandas", "pyyaml", "pytest")),
    ]
    root = tmp_path / "store"
    LocalStore(root).publish(make_manifest(captured, FRAMES))
    return root


def test_env_diff_json(env_command: None, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["env", "diff", "3f9a", "--json", "--store", str(store)])

    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["capture"] == "3f9a2c81d0e4"
    assert out["python"]["captured"] == "3.8.10"
    kinds = [(d["kind"], d["name"], d["in_traceback"]) for d in out["drifts"]]
    assert kinds == [
        ("python", "python", False),
        ("version", "pandas", True),
        ("missing", "definitely-not-installed-pkg", False),
        ("source", "pyyaml", False),
        ("extra", "pytest", False),
    ]
    assert set(out["drifts"][0]) == {"kind", "name", "captured", "current", "in_traceback"}


def test_env_diff_text_is_readable_and_plain_off_a_terminal(
    env_command: None, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["env", "diff", "3f9a2c", "--store", str(store)])

    out = capsys.readouterr().out
    assert code == 0
    assert "\033[" not in out
    lines = out.splitlines()
    assert lines[0].startswith("capture 3f9a2c81d0e4: Python 3.8.10 linux x86_64; here: Python")
    assert lines[1].split() == ["python", "Python", "3.8.10", "->", lines[1].split()[-1]]
    assert (
        lines[2].startswith("! pandas")
        and "1.5.3 -> " in lines[2]
        and "(in the traceback)" in lines[2]
    )
    assert "5 difference(s)" in out and "1 in the traceback" in out
    assert "replay env create 3f9a2c81d0e4 --venv" in out


def test_env_diff_of_an_unknown_capture_is_a_clear_error(
    env_command: None, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["env", "diff", "abcdef", "--store", str(store)])

    assert code == 2
    assert "no capture 'abcdef'" in capsys.readouterr().err


def test_env_diff_text_blanks_control_characters_from_the_capture(
    env_command: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    LocalStore(root).publish(make_manifest([dist("evil\x1b]0;pwned\x07", "1\x1b[2J")], FRAMES))

    assert cli.main(["env", "diff", "3f9a", "--store", str(root)]) == 0

    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil?]0;pwned?" in out
