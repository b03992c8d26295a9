"""The installed distributions are remembered per environment fingerprint: reused while
no folder on the path changed, read afresh as soon as one did or the row is unusable."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from replay import lockfile
from replay.capture.environment import installed
from replay.store import LocalStore

PYTHON = {"version": "3.11.7", "platform_release": "6.1"}


def install(site: Path, name: str, version: str) -> None:
    """What an installer leaves: a new metadata folder in the site folder."""
    folder = site / f"{name}-{version}.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    (folder / "INSTALLER").write_text("pip\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site-packages"
    folder.mkdir()
    install(folder, "alpha", "1.0")
    monkeypatch.setattr(sys, "path", [str(folder), str(tmp_path / "missing")])
    return folder


def names(dists: list[dict]) -> list[str]:
    return [f"{d['name']}=={d['version']}" for d in dists]


def rows(store: LocalStore) -> list[tuple]:
    with sqlite3.connect(store.root / "index.sqlite") as db:
        return db.execute("SELECT fingerprint, distributions, pylock, requirements FROM environments").fetchall()


def test_an_unchanged_environment_is_read_from_the_index(site: Path, store: LocalStore) -> None:
    first = installed(store, PYTHON)
    assert names(first[0]) == ["alpha==1.0"]
    assert store.read_blob(first[2]).decode().endswith("\nalpha==1.0\n")
    # Proof that the row, not the folders, answers: what it says is what comes back.
    fingerprint = rows(store)[0][0]
    planted = [{**first[0][0], "name": "planted"}]
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("UPDATE environments SET distributions = ?", (json.dumps(planted),))
    assert installed(store, PYTHON) == (planted, first[1], first[2])
    assert [row[0] for row in rows(store)] == [fingerprint]


def test_an_install_changes_the_fingerprint_and_is_seen(site: Path, store: LocalStore) -> None:
    before = installed(store, PYTHON)
    install(site, "beta", "2.0")
    after = installed(store, PYTHON)
    assert names(after[0]) == ["alpha==1.0", "beta==2.0"]
    assert after[1] != before[1] and after[2] != before[2]
    assert len(rows(store)) == 2


def test_an_uninstall_is_seen(site: Path, store: LocalStore) -> None:
    install(site, "beta", "2.0")
    installed(store, PYTHON)
    folder = site / "beta-2.0.dist-info"
    for item in folder.iterdir():
        item.unlink()
    folder.rmdir()
    assert names(installed(store, PYTHON)[0]) == ["alpha==1.0"]


def test_another_interpreter_is_another_environment(site: Path, store: LocalStore) -> None:
    installed(store, PYTHON)
    other = {**PYTHON, "platform_release": "5.15"}
    assert lockfile.fingerprint(other) != lockfile.fingerprint(PYTHON)
    installed(store, other)
    assert len(rows(store)) == 2


def test_a_reinstall_of_the_same_version_is_another_environment(site: Path) -> None:
    before = lockfile.fingerprint(PYTHON)
    folder = site / "alpha-1.0.dist-info"
    folder.rename(site / "~lpha-1.0.dist-info")  # as pip moves it aside to uninstall
    install(site, "alpha", "1.0")
    assert lockfile.fingerprint(PYTHON) != before


def test_other_files_in_a_path_folder_do_not_count(site: Path) -> None:
    before = lockfile.fingerprint(PYTHON)
    (site / "outputs.csv").write_text("a,b\n")
    assert lockfile.fingerprint(PYTHON) == before


GOOD = {"name": "x", "version": "1", "installer": None, "source": "index", "url": None, "commit": None}


@pytest.mark.parametrize("damage", [
    "not json",
    "[" * 100_000,  # too deep for the JSON parser
    json.dumps({"name": "x"}),
    json.dumps([{"name": "x", "version": "1"}]),  # fields missing
    json.dumps([{**GOOD, "version": 1}]),  # not a string
    json.dumps([{**GOOD, "name": None}]),
    json.dumps([{**GOOD, "source": "pypi"}]),  # not a source the manifest knows
])
def test_a_malformed_row_is_read_afresh(site: Path, store: LocalStore, damage: str) -> None:
    installed(store, PYTHON)
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("UPDATE environments SET distributions = ?", (damage,))
    assert names(installed(store, PYTHON)[0]) == ["alpha==1.0"]
    assert json.loads(rows(store)[0][1])[0]["name"] == "alpha"  # and remembered right again


def test_a_row_whose_lockfile_left_the_store_is_read_afresh(site: Path, store: LocalStore) -> None:
    _, pylock, _ = installed(store, PYTHON)
    blob = store.blob_path(pylock)
    os.chmod(blob, 0o644)
    blob.unlink()
    assert installed(store, PYTHON)[1] == pylock
    assert store.check_blob(pylock) is None


def test_a_row_naming_no_blob_is_read_afresh(site: Path, store: LocalStore) -> None:
    installed(store, PYTHON)
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("UPDATE environments SET pylock = '../../etc/passwd'")
    dists, pylock, _ = installed(store, PYTHON)
    assert names(dists) == ["alpha==1.0"] and store.check_blob(pylock) is None


def test_only_the_newest_environments_are_kept(site: Path, store: LocalStore) -> None:
    for i in range(20):
        installed(store, {**PYTHON, "version": f"3.11.{i}"})
    kept = {row[0] for row in rows(store)}
    assert kept == {lockfile.fingerprint({**PYTHON, "version": f"3.11.{i}"}) for i in range(4, 20)}


def test_a_metadata_file_rewritten_in_place_is_another_environment(site: Path, store: LocalStore) -> None:
    installed(store, PYTHON)
    record = site / "alpha-1.0.dist-info" / "direct_url.json"
    record.write_text(json.dumps({"url": "file:///src/alpha", "dir_info": {"editable": True}}))
    assert installed(store, PYTHON)[0][0]["source"] == "editable"


def test_an_index_of_version_1_gains_the_environment_table(tmp_path: Path, site: Path) -> None:
    store = LocalStore(tmp_path / "old")
    store.ensure()
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("CREATE TABLE captures (id TEXT PRIMARY KEY, step, created, status, kind, error,"
                   " exit_code, host, source_hash)")
        db.execute("PRAGMA user_version = 1")
    assert names(installed(store, PYTHON)[0]) == ["alpha==1.0"]
    assert len(rows(store)) == 1


def test_a_job_s_captures_share_its_environment(tmp_path, write_script, clean_env, store_dir) -> None:
    """A real job: its first capture remembers the environment, the next one uses the
    row (a distribution planted in it shows), even though the job writes into its
    working folder, which is on its path."""
    from tests.conftest import run_replay

    script = write_script("step.py", """
        import sys, time
        open(f"out-{time.time_ns()}.csv", "w").close()  # into sys.path[0]'s folder too
        raise ValueError("boom")
    """, folder=tmp_path)
    assert run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path).returncode == 1
    store = LocalStore(store_dir)
    first = store.load(store.ids()[0]).environment
    assert any(d.name == "step-replay" for d in first.distributions)
    [(_, text, _, _)] = rows(store)
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("UPDATE environments SET distributions = ?", (json.dumps([*json.loads(text), GOOD]),))
    assert run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path).returncode == 1
    [second] = [store.load(i).environment for i in store.ids() if store.load(i).environment != first]
    assert [d.name for d in second.distributions] == [d.name for d in first.distributions] + ["x"]
    assert second.pylock == first.pylock


def test_an_index_missing_a_table_gets_it_back(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.ensure()
    assert store.list() == []
    store.index().close()
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("DROP TABLE captures")
    assert LocalStore(store.root).list() == []
    with sqlite3.connect(store.root / "index.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("changed", ["PKG-INFO", "INSTALLER", "direct_url.json"])
def test_a_change_to_what_is_read_of_an_egg_changes_the_fingerprint(tmp_path: Path, changed: str) -> None:
    egg = tmp_path / "gamma-1.0-py3.11.egg"
    (egg / "EGG-INFO").mkdir(parents=True)
    (egg / "EGG-INFO" / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: gamma\nVersion: 1.0\n\n")
    (egg / "EGG-INFO" / "INSTALLER").write_text("easy_install\n")
    (egg / "EGG-INFO" / "direct_url.json").write_text('{"url": "file:///src/gamma", "dir_info": {}}\n')
    before = lockfile.fingerprint(PYTHON, [str(egg)])  # every file there already: the folder
    assert [d["name"] for d in lockfile.scan([str(egg)])] == ["gamma"]  # itself does not change
    (egg / "EGG-INFO" / changed).write_text((egg / "EGG-INFO" / changed).read_text() + " ")
    assert lockfile.fingerprint(PYTHON, [str(egg)]) != before
