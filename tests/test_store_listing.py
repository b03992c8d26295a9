"""Listing a store as tuples (what the TUI opens with) agrees with `list` and with the
capture folders, and finds the replayed captures without a lookup per capture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from replay.store import LocalStore
from tests.conftest import run_replay
from tests.manifests import publish_step


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_rows_are_the_listing_as_tuples_of_the_columns_asked_for(store: LocalStore) -> None:
    for n in range(3):
        publish_step(store, created=f"2026-11-2{n}T05:00:00+00:00", failure={"type": "E", "message": str(n)})

    rows = store.list_rows(("id", "created", "error"))

    assert rows == [(s["id"], s["created"], s["error"]) for s in store.list()]
    assert [created for _, created, _ in rows] == sorted((c for _, c, _ in rows), reverse=True)


def test_rows_follow_the_capture_folders_when_the_index_disagrees(store: LocalStore) -> None:
    kept, removed = publish_step(store), publish_step(store)
    shutil.rmtree(store.capture_dir(removed.id))  # gone behind the index's back
    assert [row[0] for row in store.list_rows(("id",))] == [kept.id]

    store.index().close()
    for path in store.root.glob("index.sqlite*"):
        path.unlink()
    assert store.list_rows(("id", "step")) == [(kept.id, kept.step.name)]  # rebuilt from the manifest


@pytest.mark.parametrize("damage", ["header", "page"])
def test_a_damaged_index_is_set_aside_and_rebuilt(store: LocalStore, damage: str, clean_env) -> None:
    kept = publish_step(store)
    store.index().close()
    index = store.root / "index.sqlite"
    for path in store.root.glob("index.sqlite-*"):
        path.unlink()
    if damage == "header":
        index.write_bytes(b"not a database" * 300)
    else:  # a valid header over garbage pages: fails at the first query, not at open
        index.write_bytes(index.read_bytes()[:100] + b"\xff" * 8000)
    assert store.list_rows(("id",)) == [(kept.id,)]
    assert (store.root / "index.sqlite.damaged").is_file()  # kept for a post-mortem
    result = run_replay(["ls", "--json", "--store", str(store.root)], clean_env)
    assert result.returncode == 0 and kept.id in result.stdout


def test_the_columns_must_start_with_the_id_and_exist(store: LocalStore) -> None:
    publish_step(store)
    with pytest.raises(ValueError, match="start with 'id'"):
        store.list_rows(("step", "id"))
    with pytest.raises(ValueError, match="start with 'id'"):
        store.list_rows(("id", "id; DROP TABLE captures"))


def test_side_files_name_only_the_captures_that_have_them(store: LocalStore) -> None:
    assert store.with_side_files() == set()
    replayed, _ = publish_step(store), publish_step(store)
    store.write_json(replayed.id, "verdicts.json", [{"verdict": "reproduced"}])
    assert store.with_side_files() == {replayed.id}


def test_a_capture_published_during_a_listing_stays_in_the_index(store: LocalStore, monkeypatch) -> None:
    first, late = publish_step(store), publish_step(store)
    real_ids = store.ids
    listings = iter([[first.id]])  # the folder as listed just before `late` was published
    monkeypatch.setattr(store, "ids", lambda: next(listings, None) or real_ids())
    assert {row[0] for row in store.index().rows(store, ("id",))} == {first.id, late.id}
    assert {row[0] for row in store.index().rows(store, ("id",))} == {first.id, late.id}
    indexed = store.index()._db().execute("SELECT id FROM captures").fetchall()
    assert sorted(i for (i,) in indexed) == sorted([first.id, late.id])
