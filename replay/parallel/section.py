"""The mini-batch section of a capture: `Manifest.extra["minibatch"]`.

A mini-batch capture is a step capture (sources, inputs, upstream calls, environment,
failure) plus what only a batch step has: which mini-batch of which job failed, the
content `run()` got, its context, the runner's settings and every try. The manifest's
own schema leaves `extra` open, so this model checks the section twice: when a capture
is written, and when one is read back to be replayed (captures are untrusted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from replay.bundle import Sha256
from replay.errors import UntrustedCaptureError

KEY = "minibatch"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Try(_Strict):
    """One try of the mini-batch, as the runner (or the wrapper) saw it."""

    type: str
    message: str
    traceback: str = ""
    duration: float = 0.0
    worker: dict[str, Any] = {}
    site: str = ""
    """`file:line in function` of the try's failing line, when it had one."""


class Dataset(_Strict):
    """`mini_batch_context.dataset`: the input's type, folders and partition format."""

    kind: Literal["files", "tabular"]
    roots: list[str] = []
    partition_format: str | None = None


class MiniBatchSection(_Strict):
    job_id: str = Field(min_length=1, max_length=200)
    """Shared by every capture of one run of the job (`replay parallel rerun`)."""
    job_name: str
    origin: Literal["local", "dask", "platform"]
    index: int = Field(ge=0)
    kind: Literal["files", "tabular"]
    files: list[str] | None = None
    """Original paths of a file mini-batch; their content is among the inputs."""
    parquet: Sha256 | None = None
    """Blob of a tabular mini-batch's DataFrame."""
    content_error: str | None = None
    """Why the content could not be kept (the replay cannot run without it)."""
    partition_key_value: dict[str, Any] = {}
    dataset: Dataset
    items: int = Field(ge=0)
    failed_items: int = Field(ge=0)
    tries: list[Try]
    entry_script: str
    source_directory: str
    arguments: list[str] = []
    side_inputs: list[str] = []
    models: dict[str, str] = {}
    run_invocation_timeout: float | None = Field(default=None, gt=0)
    config: dict[str, Any] = {}
    """The runner's `ParallelRunConfig`, for the record; nothing reads it back."""

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> MiniBatchSection:
        """The section of a mini-batch capture (a manifest validated already, as plain
        data: `LocalStore.load_document`), validated; a clear error for anything else."""
        if manifest["kind"] != "minibatch":
            raise UntrustedCaptureError(
                f"capture {manifest['id']} is a {manifest['kind']} capture, not a mini-batch")
        try:
            return cls.model_validate(manifest["extra"].get(KEY))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or KEY
            raise UntrustedCaptureError(
                f"{manifest['id']}: invalid mini-batch section at {where}: {first.get('msg', 'invalid')}"
            ) from None
