"""The capture format: a versioned, self-describing manifest that names blobs by hash.

The agent builds a plain dict on the failure path and validates it here only when a
capture is written, so pydantic never loads on a step that succeeds. Readers validate
every manifest they load: captures come from other machines and are untrusted.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from replay import document
from replay.document import CHECK_KEY, CHECKS, SCHEMA_VERSION


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class _Checked:
    """Runs `replay.document.CHECKS[name]` after the type's own validation, and names the
    check in the JSON Schema (`x-replay-check`), where the replay engine's standard-library
    validator (`replay.schema`) finds the same function."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(CHECKS[self.name], handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), CHECK_KEY: self.name}


Sha256 = Annotated[str, _Checked("sha256")]
RelPath = Annotated[str, _Checked("relpath")]


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

    schema_version: Annotated[int, _Checked("schema_version")] = SCHEMA_VERSION
    id: Annotated[str, _Checked("capture_id")]
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

    def blobs(self) -> list[tuple[str, int]]:
        """Every blob this capture names, with its size, for verify and transfer."""
        return document.blobs(self.model_dump(mode="json"))

    def summary(self) -> dict[str, Any]:
        """The row `replay ls --json` prints and the index stores."""
        return document.summary(self.model_dump(mode="json"))
