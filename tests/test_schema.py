"""The manifest's checked-in JSON Schema and the standard-library validator that reads it
(`replay.schema`): generated from the models, ruling as pydantic rules, used by
`replay run` so that a capture's first replay does not load pydantic."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from replay import schema, validated
from replay.errors import UntrustedCaptureError
from replay.store import LocalStore
from tests.agreement import agree_on_variants, ruling
from tests.conftest import run_python, run_replay
from tests.manifests import job_manifest, publish_step

SHA = "ab" * 32
FULL = {
    "schema_version": 1, "id": "0123456789ab", "created": "2026-01-02T03:04:05+00:00", "status": "failed",
    "kind": "minibatch",
    "step": {
        "name": "score", "argv": ["score.py", "--input", "/mnt/in"], "cwd": "/mnt/job", "mode": "module",
        "target": "pkg.score", "executable": "/usr/bin/python3", "source_root": "/mnt/job",
        "sources": [{"path": "pkg/score.py", "size": 10, "sha256": SHA},
                    {"path": "pkg/big.bin", "size": 0, "sha256": None, "copied": False}],
        "sources_truncated": True,
    },
    "outcome": {"exit_code": -9, "signal": 9, "duration_s": 12, "peak_rss_kb": 2**40},
    "failure": {
        "type": "KeyError", "message": "'oak'", "traceback": "Traceback ...",
        "causes": [{"type": "ValueError", "message": "x", "relation": "context"}],
        "frames": [{"file": "/mnt/job/pkg/score.py", "line": 3, "function": "run", "code": "LABELS[w]",
                    "user": True, "locals": {"w": "'oak'", "n": "3"}}],
        "site": 0,
    },
    "inputs": [
        {"path": "/mnt/in", "kind": "dir", "how": "argv", "size": 20,
         "files": [{"path": "a.txt", "size": 3, "sha256": SHA}, {"path": "sub/b.txt", "size": 17}]},
        {"path": "/mnt/model.pkl", "kind": "file", "how": "opened", "size": 5, "sha256": SHA, "copied": False},
    ],
    "outputs": [{"path": "/mnt/out", "existed_at_start": False, "existed_at_end": True, "how": "declared"}],
    "upstream": [
        {"seq": 0, "name": "azureml.core:Run.get_context", "key": "()", "args": "",
         "result": {"kind": "json", "data": {"id": "run-1", "tags": {"a": [1, 2.5, None, True]}}}},
        {"seq": 1, "name": "m:Model.get_model_path", "key": "('m',)",
         "result": {"kind": "dir", "files": [{"path": "model/w.bin", "size": 1, "sha256": SHA}], "type": "str"}},
        {"seq": 2, "name": "load", "key": "()", "result": {"kind": "parquet", "blob": SHA, "type": "DataFrame"}},
    ],
    "environment": {
        "variables": {"PATH": "/usr/bin", "TOKEN": ""}, "redacted": ["TOKEN"],
        "python": {"version": "3.11.9", "implementation": "CPython"},
        "host": {"hostname": "node-1", "cpus": 4, "gpu": None},
        "distributions": [
            {"name": "pandas", "version": "2.2.0"},
            {"name": "mylib", "version": "0.1", "installer": "pip", "source": "vcs",
             "url": "git+https://example.invalid/mylib", "commit": "abc"},
        ],
        "pylock": SHA, "requirements": None, "conda": {"name": "env", "dependencies": ["python=3.11"]},
    },
    "logs": {"stdout": "out\n", "stderr": "err \U0001f600\n",
             "records": [{"time": 1700000000.25, "level": "INFO", "logger": "x", "message": "m"}]},
    "notes": ["over budget: 1 input"],
    "extra": {"minibatch": {"index": 1, "nested": [[{"k": 1e-7}]]}, "blobs": [SHA]},
}
"""A manifest with every model and every optional field in use."""


def _payload(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def test_the_checked_in_schema_is_what_the_models_generate():
    with open(schema.SCHEMA_FILE) as f:
        kept = f.read()
    assert kept == schema.generate(), (
        "replay/manifest.schema.json is out of date with replay/bundle.py: "
        "run `python -m replay.schema --write` and commit the result"
    )


def test_the_custom_checks_are_named_in_the_schema():
    text = schema.generate()
    for name in ("sha256", "relpath", "capture_id", "schema_version"):
        assert f'"x-replay-check": "{name}"' in text


@pytest.mark.parametrize(("doc", "seed"), [
    pytest.param(job_manifest().model_dump(mode="json", exclude_defaults=True), 1, id="job-sparse"),
    pytest.param(job_manifest().model_dump(mode="json"), 2, id="job-normal"),
    pytest.param(FULL, 3, id="full"),
])
def test_both_validators_rule_alike_on_a_manifest_and_its_variants(doc, seed):
    seen = agree_on_variants(_payload(doc), seed=seed, count=600)
    # The variants reach all three rulings (and mostly without pydantic: agree_on_variants).
    assert seen["accepted"] > 30 and seen["refused"] > 150


def test_a_published_step_and_its_variants(tmp_path):
    store = LocalStore(tmp_path / "store")
    manifest = publish_step(store)
    agree_on_variants(store.manifest_bytes(manifest.id), seed=7)


@pytest.mark.parametrize(("change", "ruled"), [
    ({"outcome": {"exit_code": "1"}}, "deferred"),  # pydantic's lax mode reads "1" as 1
    ({"outcome": {"exit_code": 1.0}}, "deferred"),
    ({"outcome": {"exit_code": True}}, "deferred"),
    ({"outcome": {"exit_code": None}}, "refused"),
    ({"outcome": {"exit_code": [1]}}, "refused"),
    ({"outcome": {"exit_code": 1, "duration_s": 3}}, "accepted"),  # as 3.0, like pydantic
    ({"schema_version": 2}, "refused"),
    ({"id": "3f9a2c81d0e4\n"}, "refused"),
    ({"status": "Failed"}, "refused"),
    ({"extra": []}, "refused"),
    ({"extra": {"deep": [[[[[]]]]]}}, "accepted"),
    ({"notes": ["a\x00b"]}, "accepted"),
])
def test_rulings_on_chosen_changes(change, ruled):
    assert ruling(_payload({**job_manifest().model_dump(mode="json"), **change})) == ruled


@pytest.mark.parametrize("text", [
    '"duration_s": NaN', '"duration_s": 1e400', '"duration_s": -Infinity',
])
def test_non_finite_numbers_are_left_to_pydantic(text):
    payload = _payload(job_manifest().model_dump(mode="json")).replace(b'"duration_s": 0.0', text.encode())
    assert schema.validate(payload, "m") is None


def test_an_error_names_the_field_in_one_line():
    doc = json.loads(json.dumps(FULL))
    doc["inputs"][0]["files"][1]["path"] = "../../etc/passwd"
    with pytest.raises(UntrustedCaptureError, match=r"^c: invalid manifest at inputs\.0\.files\.1\.path: "
                                        r"Value error, unsafe relative path: '\.\./\.\./etc/passwd'$"):
        schema.validate(_payload(doc), "c")


def test_a_schema_with_a_construct_it_does_not_know_is_left_to_pydantic(tmp_path, monkeypatch):
    known = json.loads(schema.generate())
    known["$defs"]["Cause"]["properties"]["type"]["pattern"] = "^[A-Z]"
    changed = tmp_path / "manifest.schema.json"
    changed.write_text(json.dumps(known))
    monkeypatch.setattr(schema, "SCHEMA_FILE", str(changed))
    schema._compiled.cache_clear()
    try:
        assert schema.validate(_payload(FULL), "m") is None
        store = LocalStore(tmp_path / "store")
        capture_id = publish_step(store).id
        assert store.load_document(capture_id)["id"] == capture_id  # by pydantic
    finally:
        schema._compiled.cache_clear()


def test_a_manifest_over_the_size_limit_is_refused_before_parsing(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    capture_id = publish_step(store).id
    monkeypatch.setattr("replay.store.MAX_MANIFEST", 100)
    with pytest.raises(UntrustedCaptureError, match="manifest larger than 100 bytes"):
        store.load_document(capture_id)


def test_the_schema_is_part_of_the_validation_cache_fingerprint():
    assert {"bundle.py", "document.py", "schema.py", "manifest.schema.json"} <= set(validated.SCHEMA_SOURCES)
    folder = os.path.dirname(schema.SCHEMA_FILE)
    assert all(os.path.isfile(os.path.join(folder, name)) for name in validated.SCHEMA_SOURCES)


@pytest.mark.parametrize("name", validated.SCHEMA_SOURCES)
def test_an_edit_to_any_schema_source_changes_the_fingerprint(name, tmp_path, monkeypatch):
    folder = os.path.dirname(validated.__file__)
    for source in validated.SCHEMA_SOURCES:
        shutil.copy(os.path.join(folder, source), tmp_path / source)
    original = validated.fingerprint()
    monkeypatch.setattr(validated, "__file__", str(tmp_path / "validated.py"))
    try:
        validated.fingerprint.cache_clear()
        copied = validated.fingerprint()
        with open(tmp_path / name, "ab") as f:
            f.write(b"\n")
        validated.fingerprint.cache_clear()
        edited = validated.fingerprint()
    finally:
        validated.fingerprint.cache_clear()
    assert copied == original and edited not in (None, original)


def _capture(tmp_path: Path, write_script, clean_env: dict[str, str], store_dir: Path) -> str:
    script = write_script("step.py", "import sys\nrows = [1, 2]\nprint(rows[int(sys.argv[1])])\n")
    result = run_replay(["capture", "--", "python", str(script), "5"], clean_env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    (capture_id,) = LocalStore(store_dir).ids()
    return capture_id


def test_the_first_replay_of_a_fresh_capture_does_not_import_pydantic(tmp_path, write_script, clean_env, store_dir):
    capture_id = _capture(tmp_path, write_script, clean_env, store_dir)
    agree_on_variants(LocalStore(store_dir).manifest_bytes(capture_id), seed=11, count=200)
    env = {**clean_env, "XDG_CACHE_HOME": str(tmp_path / "never-validated")}
    result = run_python(["-X", "importtime", "-m", "replay", "run", capture_id], env, cwd=tmp_path)
    assert result.returncode == 1 and "IndexError" in result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "replay.schema" in imported
    assert not {name for name in imported if name.split(".")[0] in ("pydantic", "pydantic_core")}


def test_a_hostile_manifest_stops_a_replay_with_one_line(tmp_path, write_script, clean_env, store_dir):
    capture_id = _capture(tmp_path, write_script, clean_env, store_dir)
    path = LocalStore(store_dir).capture_dir(capture_id) / "manifest.json"
    doc = json.loads(path.read_text())
    doc["step"]["sources"][0]["path"] = "/etc/passwd"
    path.write_text(json.dumps(doc))
    result = run_replay(["run", capture_id], clean_env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"replay: {capture_id}: invalid manifest at step.sources.0.path: "
        "Value error, unsafe relative path: '/etc/passwd'"
    )
