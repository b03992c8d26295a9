"""The environment a replayed step sees: the captured variables, paths mapped, secrets
supplied by the user, and this machine's own settings where they must win."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replay.engine.workspace import PathMap
from replay.errors import UsageError

# Variables that describe the machine rather than the step: the local value wins.
LOCAL_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TMPDIR", "TEMP", "TMP",
     "TERM", "COLORTERM", "DISPLAY", "HOSTNAME", "SHLVL", "_", "PS1", "VIRTUAL_ENV",
     "PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "LD_LIBRARY_PATH", "LD_PRELOAD", "MAIL",
     "SSH_AUTH_SOCK", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "LS_COLORS", "LANG", "LC_ALL"}
)
LOCAL_PREFIXES = ("CONDA_", "XDG_", "REPLAY_", "PYENV", "DEBUGPY", "PYDEVD", "VSCODE_", "TERM_")


def parse_assignments(items: list[str], source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise UsageError(f"{source}: expected NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped; optional quotes removed."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"--env-file {path}: {exc.strerror or exc}") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln.removeprefix("export ") for ln in lines if ln and not ln.startswith("#")]
    values = parse_assignments(lines, f"--env-file {path}")
    return {k: v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"" else v
            for k, v in values.items()}


def replay_environment(
    manifest: Mapping[str, Any], paths: PathMap, supplied: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The step's environment, and the redacted variables nobody supplied."""
    env = dict(os.environ)
    captured = manifest["environment"]
    redacted = set(captured["redacted"])
    for name, value in captured["variables"].items():
        if name in LOCAL_NAMES or name.startswith(LOCAL_PREFIXES) or name in redacted:
            continue
        env[name] = paths.map_text(value)
    env.update(supplied)
    unsupplied = sorted(n for n in redacted if n not in supplied)
    for name in unsupplied:
        env.pop(name, None)  # a local value of a secret is not the remote one
    return env, unsupplied
