"""Manifests the user has validated are read again without validation, and only those
exact bytes under the same schema: an edited manifest or a new schema is validated again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay import schema, validated
from replay.bundle import Manifest
from replay.errors import UntrustedCaptureError
from replay.store import LocalStore
from tests.conftest import run_python, run_replay
from tests.manifests import publish_step


@pytest.fixture
def store(store_dir: Path) -> LocalStore:
    return LocalStore(store_dir)


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The origins of every validation of a manifest that `load_document` makes, in order
    (it starts with the standard-library validator)."""
    seen: list[str] = []
    real = schema.validate

    def counting(payload: bytes, origin: str) -> dict | None:
        seen.append(origin)
        return real(payload, origin)

    monkeypatch.setattr(schema, "validate", counting)
    return seen


def _publish_plain(store: LocalStore) -> dict:
    """A manifest as the agent writes one: plain JSON, defaulted fields left out."""
    manifest = publish_step(store)
    sparse = manifest.model_dump(mode="json", exclude_defaults=True)
    _manifest_path(store, manifest.id).write_text(json.dumps(sparse))
    return sparse


def _manifest_path(store: LocalStore, capture_id: str) -> Path:
    return store.capture_dir(capture_id) / "manifest.json"


def test_a_validated_manifest_is_read_again_without_validation(store, validations):
    doc = _publish_plain(store)
    first = store.load_document(doc["id"])
    second = store.load_document(doc["id"])
    assert validations == [doc["id"]]
    normal = Manifest.model_validate(doc).model_dump(mode="json")
    assert first == second == normal  # defaults filled in, from the cache too
    assert second["inputs"] == [] and second["step"]["sources"][0]["copied"] is True


def test_a_manifest_already_in_normal_form_gets_an_empty_entry(store, own_cache):
    doc = Manifest.model_validate(_publish_plain(store)).model_dump(mode="json")
    _manifest_path(store, doc["id"]).write_text(json.dumps(doc))
    assert store.load_document(doc["id"]) == doc
    (entry,) = validated.cache_dir().iterdir()
    assert entry.read_bytes() == b""
    assert store.load_document(doc["id"]) == doc


def test_a_manifest_edited_after_validation_is_validated_again_and_refused(store, validations, clean_env):
    doc = _publish_plain(store)
    store.load_document(doc["id"])
    path = _manifest_path(store, doc["id"])
    edited = json.loads(path.read_text())
    edited["step"]["sources"][0]["path"] = "../../etc/passwd"
    path.write_text(json.dumps(edited))
    with pytest.raises(UntrustedCaptureError, match="unsafe relative path"):
        store.load_document(doc["id"])
    assert validations == [doc["id"], doc["id"]]
    result = run_replay(["run", doc["id"]], clean_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unsafe relative path" in result.stderr


def test_another_schema_does_not_consult_the_cache(store, validations, monkeypatch):
    doc = _publish_plain(store)
    store.load_document(doc["id"])
    monkeypatch.setattr(validated, "SCHEMA_VERSION", validated.SCHEMA_VERSION + 1)
    validated.fingerprint.cache_clear()
    try:
        store.load_document(doc["id"])
    finally:
        validated.fingerprint.cache_clear()
    assert validations == [doc["id"], doc["id"]]


def test_a_manifest_naming_another_capture_is_refused_from_the_cache(store, validations):
    one, other = _publish_plain(store), _publish_plain(store)
    store.load_document(one["id"])
    # The same validated bytes copied into another capture's folder.
    _manifest_path(store, other["id"]).write_bytes(_manifest_path(store, one["id"]).read_bytes())
    with pytest.raises(UntrustedCaptureError, match=f"holds manifest {one['id']}"):
        store.load_document(other["id"])
    assert validations == [one["id"]]


def test_an_unreadable_entry_means_validating_again(store, validations):
    doc = _publish_plain(store)
    store.load_document(doc["id"])
    (entry,) = validated.cache_dir().iterdir()
    entry.write_text("{not json")
    assert store.load_document(doc["id"])["id"] == doc["id"]
    assert validations == [doc["id"], doc["id"]]


def test_no_writable_cache_still_validates_every_time(store, validations, own_cache, monkeypatch):
    own_cache.write_text("a file where the cache folder would be")
    doc = _publish_plain(store)
    store.load_document(doc["id"])
    store.load_document(doc["id"])
    assert validations == [doc["id"], doc["id"]]


def test_a_fetched_or_imported_capture_is_not_validated_again_to_replay(store, store_dir, validations):
    source = LocalStore(store_dir.parent / "elsewhere")
    doc = _publish_plain(source)
    for digest, _ in source.load(doc["id"]).blobs():
        store.ensure()
        store.add_bytes(source.read_blob(digest))
    validations.clear()
    store.publish_raw(doc["id"], source.manifest_bytes(doc["id"]))
    validations.clear()
    assert store.load_document(doc["id"])["id"] == doc["id"]
    assert validations == []


def test_a_replay_does_not_load_pydantic_the_first_time_or_again(store, tmp_path, clean_env):
    capture_id = publish_step(store).id
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from replay.engine.runner import RunOptions, replay_step\n"
        "from replay.store import LocalStore\n"
        f"options = RunOptions(workdir=Path({str(tmp_path / 'wd')!r}), quiet_stdout=True)\n"
        "if sys.argv[1:] == ['cached']:  # the second time no validator may run at all\n"
        "    import replay.schema\n"
        "    replay.schema.validate = None\n"
        f"replay_step(LocalStore({str(store.root)!r}), {capture_id!r}, options)\n"
        "print(any(m.split('.')[0] == 'pydantic' for m in sys.modules))\n"
    )
    runs = [run_python(["-c", code, *extra], clean_env) for extra in ([], ["cached"])]
    loaded = [run.stdout.split()[-1] if run.stdout.split() else run.stderr for run in runs]
    assert loaded == ["False", "False"]
