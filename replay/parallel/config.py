"""`ParallelRunConfig`: the batch-inference step's settings, checked before anything runs.

The platform rejects a bad step only after the job was queued and a node was allocated;
users lose minutes to a typo in `mini_batch_size`. Here every value is checked up front
and each problem becomes one `UsageError` line that names the value and the rule.
Defaults are the platform's (see SEED_NOTES, "The parallel (batch inference) step
contract"): 10 files or `1MB` per mini-batch, `run_invocation_timeout` 60 s,
`run_max_try` 3, `process_count_per_node` 1, `logging_level` INFO, output file
`parallel_run_step.txt`. `error_threshold` and `output_action` have no default on the
platform, so they have none here either (the CLI chooses its own, documented in --help).

`resolve_config()` turns the user's config into a `ParallelJob`: absolute paths, the
input kind (files or tabular), the listed input files and the mini-batch size as a
number. The entry script is inspected by parsing its source, never by importing it:
importing would run the user's module-level code (model loading, network calls) in the
runner's own process.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from replay.errors import UsageError

STEP_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
STEP_NAME_MIN, STEP_NAME_MAX = 3, 32
INT_MAX = 2**31 - 1
SIZE_RE = re.compile(r"^\s*(\d+)\s*(KB|MB|GB)?\s*$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
DEFAULT_FILES_PER_BATCH = 10
DEFAULT_TABULAR_BYTES = 1024**2
OUTPUT_ACTIONS = ("append_row", "summary_only")
LOGGING_LEVELS = ("WARNING", "INFO", "DEBUG")
TABULAR_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
INPUT_PREFIXES = ("files:", "tabular:")
HEADER_FLAG = "--append_row_dataframe_header"
PARTITION_FIELD_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

InputKind = Literal["files", "tabular"]


@dataclass
class ParallelRunConfig:
    """What a `ParallelRunStep` and its `ParallelRunConfig` say, in one object.

    Paths may be relative (to the current directory; `entry_script` to
    `source_directory` when that is given). `models` maps `NAME` or `NAME:VERSION` to
    the local file or folder that `Model.get_model_path(NAME)` returns in the workers.
    `arguments` are the step's `arguments`: they become the entry script's `sys.argv[1:]`.
    An input may carry a `files:` or `tabular:` prefix to force its dataset type (a
    folder of CSV files is a tabular dataset unless written `files:folder`).
    """

    entry_script: str
    inputs: list[str]
    error_threshold: int
    output_action: str
    mini_batch_size: str | int | None = None
    side_inputs: list[str] = field(default_factory=list)
    source_directory: str | None = None
    append_row_file_name: str = "parallel_run_step.txt"
    node_count: int = 1
    process_count_per_node: int = 1
    run_invocation_timeout: float = 60
    run_max_try: int = 3
    logging_level: str = "INFO"
    partition_keys: list[str] = field(default_factory=list)
    partition_format: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)
    name: str | None = None
    output: str | None = None
    executor: str = "local"
    address: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy, as recorded in reports and failed-mini-batch records."""
        return asdict(self)


class InputFile(NamedTuple):
    """One file of the input: where it is, which input it came from, its tabular format.

    A NamedTuple because inputs can hold hundreds of thousands of files.
    """

    path: str
    root: str
    fmt: str | None  # csv / parquet / jsonl for tabular inputs, None for file inputs


@dataclass(frozen=True)
class ParallelJob:
    """A validated config with everything resolved; the runner and planner read only this."""

    config: ParallelRunConfig
    name: str
    entry_script: Path
    source_directory: Path
    kind: InputKind
    files: tuple[InputFile, ...]
    input_roots: tuple[str, ...]
    mini_batch_size: int  # files for file input, bytes for tabular input
    side_inputs: tuple[str, ...]
    models: dict[str, str]
    output: Path
    arguments: tuple[str, ...]
    append_row_header: bool

    @property
    def slots(self) -> int:
        """Worker processes in the job: `node_count` x `process_count_per_node`."""
        return self.config.node_count * self.config.process_count_per_node


def parse_mini_batch_size(value: str | int | None, kind: InputKind) -> int:
    """`10` files for file input; `1024`, `1024KB`, `10MB`, `1GB` bytes for tabular input."""
    if value is None or value == "":
        return DEFAULT_FILES_PER_BATCH if kind == "files" else DEFAULT_TABULAR_BYTES
    text = str(value)
    if kind == "files":
        if isinstance(value, bool) or not text.strip().isdigit() or int(text) < 1:
            raise UsageError(
                f"mini_batch_size {text!r} is not valid for a file dataset: "
                "give a count of files, at least 1 (for example 10)"
            )
        return int(text)
    match = SIZE_RE.match(text)
    if match is None or isinstance(value, bool):
        raise UsageError(
            f"mini_batch_size {text!r} is not a size: write a number of bytes with an "
            "optional unit KB, MB or GB, for example 1024, 1024KB, 10MB, 1GB"
        )
    size = int(match.group(1)) * SIZE_UNITS[(match.group(2) or "").upper()]
    if size < 1:
        raise UsageError(f"mini_batch_size {text!r} must be at least 1 byte")
    return size


STEP_NAME_RULE = (f"{STEP_NAME_MIN} to {STEP_NAME_MAX} lowercase letters, digits or dashes, "
                  "starting with a letter and not ending with a dash")


def is_valid_step_name(name: str) -> bool:
    """The platform's rule (`STEP_NAME_RULE`, regex `STEP_NAME_RE`)."""
    return STEP_NAME_MIN <= len(name) <= STEP_NAME_MAX and bool(STEP_NAME_RE.match(name))


def check_step_name(name: str) -> str:
    if not is_valid_step_name(name):
        raise UsageError(f"step name {name!r} is not allowed: use {STEP_NAME_RULE} (regex {STEP_NAME_RE.pattern})")
    return name


def default_step_name(entry_script: str) -> str:
    """A valid step name derived from the script's file name (`batch_score.py` -> `batch-score`)."""
    stem = re.sub(r"[^a-z0-9]+", "-", Path(entry_script).stem.lower())
    stem = re.sub(r"^[^a-z]+", "", stem)[:STEP_NAME_MAX].strip("-")
    if len(stem) < STEP_NAME_MIN or not STEP_NAME_RE.match(stem):
        return "parallel-run"
    return stem


def parse_model_spec(spec: str) -> tuple[str, str]:
    """`NAME[:VERSION]=PATH` -> (`NAME[:VERSION]`, `PATH`)."""
    key, sep, path = spec.partition("=")
    if not sep or not key or not path or not re.match(r"^[^:=\s]+(:[^:=\s]+)?$", key):
        raise UsageError(f"--model {spec!r}: write NAME=PATH or NAME:VERSION=PATH")
    return key, path


def wants_dataframe_header(arguments: list[str] | tuple[str, ...]) -> bool:
    """True when the step's arguments include `--append_row_dataframe_header True`."""
    args = list(arguments)
    for i, arg in enumerate(args):
        if arg == HEADER_FLAG and i + 1 < len(args):
            return args[i + 1].strip().lower() in ("true", "1", "yes")
        if arg.startswith(HEADER_FLAG + "="):
            return arg.split("=", 1)[1].strip().lower() in ("true", "1", "yes")
    return False


def check_entry_script(path: Path) -> None:
    """Parse (not import) the script and require module-level `init` and `run`."""
    if not path.is_file():
        raise UsageError(f"entry script not found: {path}")
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise UsageError(
            f"entry script {path} does not parse: {exc.msg} (line {exc.lineno})"
        ) from None
    except ValueError as exc:  # e.g. null bytes
        raise UsageError(f"entry script {path} does not parse: {exc}") from None
    defined: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    defined[target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                defined[(alias.asname or alias.name).split(".")[0]] = node
    missing = [name for name in ("init", "run") if name not in defined]
    if missing:
        raise UsageError(
            f"entry script {path} does not define {' and '.join(f'{m}()' for m in missing)}: "
            "a batch-inference entry script needs init() (called once per worker) and "
            "run(mini_batch) (called once per mini-batch)"
        )
    for name in ("init", "run"):
        if isinstance(defined[name], ast.AsyncFunctionDef):
            raise UsageError(f"entry script {path}: {name}() must be a plain function, not async")
    run_node = defined["run"]
    if isinstance(run_node, ast.FunctionDef):
        a = run_node.args
        if len(a.posonlyargs) + len(a.args) < 1 and a.vararg is None:
            raise UsageError(
                f"entry script {path}: run() takes no argument; it must accept the "
                "mini-batch: def run(mini_batch)"
            )


def _split_prefix(raw: str) -> tuple[str | None, str]:
    for prefix in INPUT_PREFIXES:
        if raw.startswith(prefix) and not os.path.exists(raw):
            return prefix[:-1], raw[len(prefix) :]
    return None, raw


def _walk(root: Path) -> list[str]:
    """Every file under `root`, sorted (the platform's order is by path too).

    Hidden files and `_`-markers (`_SUCCESS`, `.crc`) are not data, as in Spark/Hadoop
    output folders. Symlinked folders are followed once.
    """
    out: list[str] = []
    stack = [str(root)]
    seen: set[str] = set()
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name.startswith((".", "_")):
                        continue
                    if entry.is_dir():
                        stack.append(entry.path)
                    elif entry.is_file():
                        out.append(entry.path)
        except OSError as exc:
            raise UsageError(f"cannot list input folder {folder}: {exc.strerror}") from None
    out.sort()
    return out


_SUFFIXES = tuple(TABULAR_FORMATS)


def _tabular_format(path: str) -> str | None:
    tail = path[-8:].lower()
    if not tail.endswith(_SUFFIXES):
        return None
    return TABULAR_FORMATS[tail[tail.rfind("."):]]


def list_inputs(raw_inputs: list[str]) -> tuple[InputKind, tuple[InputFile, ...], tuple[str, ...]]:
    """List every input file and decide the dataset type; all inputs must share one type."""
    if not raw_inputs:
        raise UsageError("no input: give at least one --input PATH")
    kinds: dict[str, str] = {}
    files: list[InputFile] = []
    roots: list[str] = []
    for raw in raw_inputs:
        forced, text = _split_prefix(raw)
        path = Path(text).expanduser().absolute()
        if not path.exists():
            raise UsageError(f"input not found: {text}")
        listed = _walk(path) if path.is_dir() else [str(path)]
        if not listed:
            raise UsageError(f"input folder {text} holds no files")
        roots.append(str(path))
        fmts = [_tabular_format(p) for p in listed]
        if forced is not None:
            kind = forced
        elif all(fmts):
            kind = "tabular"
        elif not any(fmts):
            kind = "files"
        else:
            tab = next(p for p, f in zip(listed, fmts) if f)
            other = next(p for p, f in zip(listed, fmts) if not f)
            raise UsageError(
                f"input {text} mixes tabular files ({tab}) and other files ({other}); "
                "a step's inputs must be all tabular or all files (write files:PATH to "
                "pass every file as a path)"
            )
        if kind == "tabular":
            bad = next((p for p, f in zip(listed, fmts) if not f), None)
            if bad is not None:
                raise UsageError(
                    f"input {text}: {bad} is not CSV, Parquet or JSON Lines "
                    f"(known extensions: {', '.join(sorted(TABULAR_FORMATS))})"
                )
        kinds[raw] = kind
        root = str(path)
        if kind == "tabular":
            files.extend(InputFile(p, root, f) for p, f in zip(listed, fmts))
        else:
            files.extend(InputFile(p, root, None) for p in listed)
    if len(set(kinds.values())) > 1:
        tab = next(r for r, k in kinds.items() if k == "tabular")
        fil = next(r for r, k in kinds.items() if k == "files")
        raise UsageError(
            f"inputs of mixed type: {tab} is tabular but {fil} is a file dataset; "
            "all inputs of a step must be of one type"
        )
    return cast(InputKind, next(iter(kinds.values()))), tuple(files), tuple(roots)


def partition_fields(fmt: str) -> list[str]:
    """The `{field}` names of a partition format, in order."""
    return PARTITION_FIELD_RE.findall(fmt)


def _check_int(name: str, value: Any, low: int, high: int = INT_MAX) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{name} {number} is out of range [{low}, {high}]")
    return number


def resolve_config(config: ParallelRunConfig, cwd: Path | None = None) -> ParallelJob:
    """Check every value of `config` and resolve it; raise `UsageError` on the first problem."""
    base = (cwd or Path.cwd()).absolute()
    config = replace(config)  # normalised values go into a copy, never the caller's object
    name = check_step_name(config.name) if config.name else default_step_name(config.entry_script)

    config.error_threshold = _check_int("error_threshold", config.error_threshold, -1)
    if config.output_action not in OUTPUT_ACTIONS:
        raise UsageError(
            f"output_action {config.output_action!r} is not one of {', '.join(OUTPUT_ACTIONS)}"
        )
    config.node_count = _check_int("node_count", config.node_count, 1)
    config.process_count_per_node = _check_int(
        "process_count_per_node", config.process_count_per_node, 1
    )
    config.run_max_try = _check_int("run_max_try", config.run_max_try, 1)
    try:
        timeout = float(config.run_invocation_timeout)
    except (TypeError, ValueError):
        raise UsageError(
            f"run_invocation_timeout must be a number of seconds, got {config.run_invocation_timeout!r}"
        ) from None
    if not timeout > 0:
        raise UsageError(f"run_invocation_timeout must be positive, got {timeout:g}")
    config.run_invocation_timeout = timeout
    level = str(config.logging_level).upper()
    if level not in LOGGING_LEVELS:
        raise UsageError(
            f"logging_level {config.logging_level!r} is not one of {', '.join(LOGGING_LEVELS)}"
        )
    config.logging_level = level
    file_name = config.append_row_file_name
    if not file_name or "/" in file_name or "\\" in file_name or file_name in (".", ".."):
        raise UsageError(
            f"append_row_file_name {file_name!r} must be a plain file name, not a path"
        )
    if config.executor not in ("local", "dask"):
        raise UsageError(f"executor {config.executor!r} is not one of local, dask")
    if config.executor == "dask" and not config.address:
        raise UsageError("--executor dask needs --address of a running scheduler (tcp://HOST:PORT)")
    if config.executor == "local" and config.address:
        raise UsageError("--address is only used with --executor dask")

    source = Path(config.source_directory).expanduser() if config.source_directory else None
    if source is not None:
        source = (base / source).absolute()
        if not source.is_dir():
            raise UsageError(f"source directory not found: {config.source_directory}")
    script = Path(config.entry_script).expanduser()
    if not script.is_absolute():
        script = (source or base) / script
    script = script.absolute()
    check_entry_script(script)
    if source is None:
        source = script.parent

    kind, files, roots = list_inputs([_absolutize(raw, base) for raw in config.inputs])
    size = parse_mini_batch_size(config.mini_batch_size, kind)

    keys = list(config.partition_keys or [])
    if len(set(keys)) != len(keys):
        raise UsageError(f"partition keys repeat a name: {' '.join(keys)}")
    if config.partition_format and kind != "files":
        raise UsageError(
            "--partition-format applies to file datasets; tabular inputs partition by the "
            "values of the --partition-keys columns"
        )
    if kind == "files" and keys:
        if not config.partition_format:
            raise UsageError(
                "partitioning a file dataset needs --partition-format, for example "
                "'{user}/{genre}/{name}.txt' with --partition-keys user genre"
            )
        fields = partition_fields(config.partition_format)
        unknown = [k for k in keys if k not in fields]
        if unknown:
            raise UsageError(
                f"partition key {unknown[0]!r} is not a field of --partition-format "
                f"{config.partition_format!r} (fields: {', '.join(fields) or 'none'})"
            )
    if config.partition_format and not keys:
        raise UsageError("--partition-format needs --partition-keys naming the fields to partition by")

    side = []
    for raw in config.side_inputs:
        path = (base / Path(raw).expanduser()).absolute()
        if not path.exists():
            raise UsageError(f"side input not found: {raw}")
        side.append(str(path))

    models: dict[str, str] = {}
    for key, raw in config.models.items():
        parse_model_spec(f"{key}={raw}")
        path = (base / Path(raw).expanduser()).absolute()
        if not path.exists():
            raise UsageError(f"model {key}: path not found: {raw}")
        models[key] = str(path)

    output = Path(config.output).expanduser() if config.output else Path("parallel_run_output") / name
    output = (base / output).absolute()
    if output.exists() and not output.is_dir():
        raise UsageError(f"output {output} exists and is not a folder")
    for root in roots:
        if Path(root).is_dir() and output.is_relative_to(root):
            raise UsageError(
                f"output {output} is inside the input folder {root}: the next run would read "
                "its own results as input; choose another --output"
            )

    return ParallelJob(
        config=config,
        name=name,
        entry_script=script,
        source_directory=source,
        kind=kind,
        files=files,
        input_roots=roots,
        mini_batch_size=size,
        side_inputs=tuple(side),
        models=models,
        output=output,
        arguments=tuple(str(a) for a in config.arguments),
        append_row_header=wants_dataframe_header(config.arguments),
    )


def _absolutize(raw: str, base: Path) -> str:
    prefix, text = _split_prefix(raw)
    path = str((base / Path(text).expanduser()).absolute())
    return f"{prefix}:{path}" if prefix else path
