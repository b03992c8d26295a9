"""The capture format: a versioned, self-describing manifest that names blobs by hash.

The agent builds a plain dict on the failure path and validates it here only when a
capture is written, so pydantic never loads on a step that succeeds. Readers validate
every manifest they load: captures come from other machines and are untrusted.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from replay import document
from replay.document import SCHEMA_VERSION

ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT = 1 << 20


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def _check_hash(value: str) -> str:
    if not HASH_PATTERN.match(value):
        raise ValueError(f"not a sha256 hex digest: {value[:80]!r}")
    return value


def _check_relpath(value: str) -> str:
    """A path stored relative to a root must stay under that root."""
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        raise ValueError(f"unsafe relative path: {value[:200]!r}")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError(f"unsafe relative path: {value[:200]!r}")
    return value


Sha256 = Annotated[str, AfterValidator(_check_hash)]
RelPath = Annotated[str, AfterValidator(_check_relpath)]


class FileRef(_Model):
    """One file by content: `path` is relative to the owner (source root, input folder)."""

    path: RelPath
    size: int = Field(ge=0)
    sha256: Sha256 | None = None
    copied: bool = True



class Step(_Model):
    """How the step was started, and the user code it ran."""

    name: str
    argv: list[str]
    cwd: str
    mode: Literal["script", "module", "command"]
    target: str
    executable: str
    source_root: str | None = None
    sources: list[FileRef] = []
    sources_truncated: bool = False


class Frame(_Model):
    file: str
    line: int
    function: str
    code: str = ""
    user: bool = False
    locals: dict[str, str] = {}


class Cause(_Model):
    type: str
    message: str
    relation: Literal["cause", "context"]


class Failure(_Model):
    type: str
    message: str
    traceback: str = ""
    causes: list[Cause] = []
    frames: list[Frame] = []
    site: int | None = None
    """Index into `frames` of the innermost frame in user code."""

    def site_frame(self) -> Frame | None:
        return document.item_at(self.frames, self.site)


class Outcome(_Model):
    exit_code: int
    signal: int | None = None
    duration_s: float = 0.0
    peak_rss_kb: int | None = None


class Input(_Model):
    """A file or folder the step read or was handed."""

    path: str
    kind: Literal["file", "dir"]
    how: Literal["argv", "declared", "opened", "env", "side"]
    size: int = Field(ge=0)
    sha256: Sha256 | None = None
    copied: bool = True
    files: list[FileRef] = []



class Output(_Model):
    path: str
    existed_at_start: bool
    existed_at_end: bool
    how: Literal["argv", "env", "declared"] = "argv"


class Value(_Model):
    """A recorded value, serialised safely. `pickle` is loaded only with explicit trust."""

    kind: Literal["json", "parquet", "npy", "file", "dir", "pickle", "none", "error"]
    data: Any = None
    blob: Sha256 | None = None
    files: list[FileRef] = []
    type: str = ""



class BoundaryCall(_Model):
    seq: int
    name: str
    key: str
    """Stable text of the call's arguments, used to match the call at replay."""
    args: str = ""
    result: Value


class Distribution(_Model):
    name: str
    version: str
    installer: str | None = None
    source: Literal["index", "editable", "vcs", "local", "archive"] = "index"
    url: str | None = None
    commit: str | None = None


class Environment(_Model):
    variables: dict[str, str] = {}
    redacted: list[str] = []
    python: dict[str, str] = {}
    host: dict[str, Any] = {}
    distributions: list[Distribution] = []
    pylock: Sha256 | None = None
    """Blob hash of the PEP 751 `pylock.toml`."""
    requirements: Sha256 | None = None
    """Blob hash of the pinned `requirements.txt`."""
    conda: dict[str, Any] | None = None



class LogRecord(_Model):
    time: float
    level: str
    logger: str
    message: str


class Logs(_Model):
    stdout: str = ""
    stderr: str = ""
    records: list[LogRecord] = []


class Manifest(_Model):
    """One capture. Immutable once published."""

    schema_version: int = SCHEMA_VERSION
    id: str
    created: str
    status: Literal["failed", "passed"]
    kind: Literal["step", "minibatch"] = "step"
    step: Step
    outcome: Outcome
    failure: Failure | None = None
    inputs: list[Input] = []
    outputs: list[Output] = []
    upstream: list[BoundaryCall] = []
    environment: Environment = Environment()
    logs: Logs = Logs()
    notes: list[str] = []
    """Things the agent could not record (over budget, a value it could not summarise)."""
    extra: dict[str, Any] = {}
    """Room for step kinds (mini-batch context, file-access statistics)."""

    @field_validator("id")
    @classmethod
    def _v_id(cls, v: str) -> str:
        if not ID_PATTERN.match(v):
            raise ValueError(f"capture id must be 12 hex digits, got {v[:40]!r}")
        return v

    @field_validator("schema_version")
    @classmethod
    def _v_schema(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {v} (this replay reads {SCHEMA_VERSION})")
        return v

    def blobs(self) -> list[tuple[str, int]]:
        """Every blob this capture names, with its size, for verify and transfer."""
        return document.blobs(self.model_dump(mode="json"))

    def summary(self) -> dict[str, Any]:
        """The row `replay ls --json` prints and the index stores."""
        return document.summary(self.model_dump(mode="json"))
