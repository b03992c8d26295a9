"""Minimal valid capture manifests for tests that need one without running a step."""

from __future__ import annotations

from typing import Any

from replay.bundle import Manifest, Outcome, Step
from replay.store import LocalStore


def job_manifest(**sections: Any) -> Manifest:
    """A failed `score.py` step of a remote job; keyword arguments replace sections."""
    base: dict[str, Any] = {
        "id": "3f9a2c81d0e4",
        "created": "2024-05-01T12:00:00Z",
        "status": "failed",
        "step": Step(name="score", argv=["score.py"], cwd="/mnt/job", mode="script",
                     target="score.py", executable="/azureml-envs/azureml_1/bin/python"),
        "outcome": Outcome(exit_code=1),
    }
    return Manifest(**{**base, **sections})


def publish_step(store: LocalStore, **changes: Any) -> Manifest:
    """Publish a failed one-file step (its source blob included) under a fresh id;
    keyword arguments replace top-level fields."""
    store.ensure()
    blob = store.add_bytes(b"print('hi')\n")
    data = {
        "id": store.new_id(), "created": "2026-11-27T05:00:00+00:00", "status": "failed",
        "step": {"name": "s", "argv": ["s.py"], "cwd": "/w", "mode": "script", "target": "/w/s.py",
                 "executable": "python", "source_root": "/w",
                 "sources": [{"path": "s.py", "size": 12, "sha256": blob}]},
        "outcome": {"exit_code": 1},
    }
    data.update(changes)
    manifest = Manifest.model_validate(data)
    store.publish(manifest)
    return manifest
