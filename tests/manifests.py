"""A minimal valid capture manifest for tests that need one without running a step."""

from __future__ import annotations

from typing import Any

from replay.bundle import Manifest, Outcome, Step


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
