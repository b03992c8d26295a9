"""Replay one capture from the user's side: materialise, run the harness, judge.

`replay_step` materialises the capture, checks that everything the step needs is
there (reference-only inputs, trusted values), restores argv and environment with
every path mapped, runs the harness process, and compares what happened with the
captured failure. The verdict is kept in the store beside the capture.

The manifest is read as validated plain data (`LocalStore.load_document`): pydantic
and its first model cost 200-300 ms, the rest of a replay's own work about 100 ms, so
pydantic loads only for a capture this user has not validated before (and for a
mini-batch, whose section is a model of its own).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from replay.engine.environment import replay_environment
from replay.engine.verdict import Signature, Verdict, captured_signature, judge
from replay.engine.workspace import Workspace, materialise
from replay.errors import ReplaySetupError
from replay.store import LocalStore


@dataclass
class RunOptions:
    attach: bool = False
    host: str = "127.0.0.1"
    port: int = 5678
    from_start: bool = False
    source: Path | None = None
    workdir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    input_map: dict[str, str] = field(default_factory=dict)
    trust: bool = False
    ready_file: Path | None = None
    """Where the harness writes {host, port, pid} once debugpy listens (for the TUI)."""
    quiet_stdout: bool = False
    """Send the step's stdout to stderr, so stdout carries only the verdict (`--json`)."""
    output_file: Path | None = None
    """Send the step's stdout and stderr to this file (many replays in one table)."""


def default_workdir(store: LocalStore, capture_id: str) -> Path:
    return store.root / "work" / capture_id


def prepare(store: LocalStore, manifest: Mapping[str, Any], options: RunOptions) -> Workspace:
    """Materialise the work folder, or say exactly what is missing."""
    if manifest["step"]["mode"] == "command":
        raise ReplaySetupError(
            f"capture {manifest['id']} ran a non-Python command ({manifest['step']['target']}); "
            "only Python steps can be replayed (its Python children have captures of their own)"
        )
    from replay.boundaries.core import refuse_pickles

    refuse_pickles(manifest["upstream"], options.trust)
    root = options.workdir or default_workdir(store, manifest["id"])
    ws = materialise(store, manifest, root, options.source, options.input_map)
    if ws.missing_inputs:
        lines = "\n".join(f"  --input-map {p}=LOCAL_PATH" for p in ws.missing_inputs)
        raise ReplaySetupError(
            f"{len(ws.missing_inputs)} input(s) were too large to capture and must be supplied:\n{lines}"
        )
    return ws


def harness_spec(manifest: Mapping[str, Any], ws: Workspace, options: RunOptions, result_file: Path,
                 store: LocalStore) -> dict[str, object]:
    step = manifest["step"]
    if step["mode"] == "script":
        target = ws.paths.map_path(step["target"]) or step["target"]
    else:
        target = step["target"]
    args = [ws.paths.map_text(a) for a in step["argv"][1:]]
    attach = None
    if options.attach:
        ready = options.ready_file or result_file.with_name("ready.json")
        attach = {"host": options.host, "port": options.port, "from_start": options.from_start,
                  "ready_file": str(ready)}
    return {
        "store": str(store.root),
        "mode": step["mode"],
        "target": target,
        "args": args,
        "cwd": str(ws.cwd),
        "source_root": str(ws.src),
        "workdir": str(ws.root),
        "trust": options.trust,
        "upstream": manifest["upstream"],  # validated already: the harness does not read it again
        "path_map": dict(ws.paths.pairs),
        "attach": attach,
        "result_file": str(result_file),
        "minibatch": _minibatch(manifest, ws, store),
    }


def _minibatch(manifest: Mapping[str, Any], ws: Workspace, store: LocalStore) -> dict[str, object] | None:
    """A batch step's mini-batch (content and context), which the harness runs as
    `init()` then `run(mini_batch)` instead of the script as `__main__`."""
    if manifest["kind"] != "minibatch":
        return None
    from replay.parallel.minibatch import harness_spec as minibatch_spec

    return minibatch_spec(manifest, ws, store)


def replay_step(
    store: LocalStore,
    capture_id: str,
    options: RunOptions,
    notice: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> Verdict:
    """Replay one capture and return its verdict (also kept in the store)."""
    manifest = store.load_document(capture_id)
    ws = prepare(store, manifest, options)
    env, unsupplied = replay_environment(manifest, ws.paths, options.env)
    notes: list[str] = []
    if unsupplied:
        notes.append(
            f"redacted variables not supplied (pass --env NAME=VALUE if the step needs them): "
            f"{', '.join(unsupplied)}"
        )
    notes.extend(_drift_warnings(manifest))
    for line in notes:
        notice(f"replay: {line}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="replay-run-") as tmp:
        result_file = Path(tmp) / "result.json"
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(harness_spec(manifest, ws, options, result_file, store)))
        for name in [n for n in env if n.startswith("REPLAY_")]:
            del env[name]
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        # debugpy misses breakpoints in frozen standard modules; thawing them costs each
        # replay a few ms, so only a replay that may be debugged pays it.
        thaw = ["-X", "frozen_modules=off"] if options.attach else []
        cmd = [sys.executable, *thaw, "-m", "replay.engine.harness", str(spec_file)]
        with _step_output(options) as (stdout, stderr):
            proc = subprocess.run(cmd, env=env, cwd=ws.cwd, stdout=stdout, stderr=stderr)
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
    exit_code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    if result.get("setup_error"):
        raise ReplaySetupError(f"the replay could not serve the step: {result['setup_error']}")
    sig = result.get("signature")
    replayed = Signature(**sig) if sig else None
    kind, same_message = judge(manifest, replayed, exit_code)
    if not result:
        notes.append(f"the replay ended before reporting (exit {exit_code})")
    verdict = Verdict(
        verdict=kind, capture_id=manifest["id"], exit_code=exit_code,
        captured=captured_signature(manifest), replayed=replayed, same_message=same_message,
        notes=notes, platform_log=result.get("platform_log", []),
        duration_s=round(time.monotonic() - started, 3),
    )
    _remember(store, verdict, options)
    return verdict


@contextmanager
def _step_output(options: RunOptions) -> Iterator[tuple[IO[Any] | None, IO[Any] | int | None]]:
    """Where the replayed step's stdout and stderr go: the terminal (stdout moved to
    stderr under `--json`), or one file."""
    if options.output_file is None:
        yield (sys.stderr if options.quiet_stdout else None), None
        return
    options.output_file.parent.mkdir(parents=True, exist_ok=True)
    with open(options.output_file, "wb") as out:
        yield out, subprocess.STDOUT


def _remember(store: LocalStore, verdict: Verdict, options: RunOptions) -> None:
    from replay.verdicts import remember

    source = str(options.source) if options.source else "captured"
    remember(store, verdict.capture_id, {**verdict.to_json(), "source": source})


def _drift_warnings(manifest: Mapping[str, Any]) -> list[str]:
    """Packages in the traceback whose local version differs from the captured one."""
    from replay.envdiff import traceback_drifts

    return [
        f"{d.describe()} (it appears in the traceback; see 'replay env diff {manifest['id'][:8]}')"
        for d in traceback_drifts(manifest)
    ]

