"""Capture settings, from the command line or from the environment of a worker process.

The environment form lets a parent (`replay capture`, an orchestrator, the startup
hook) hand the same settings to every Python process it starts.
"""

from __future__ import annotations

import os

GiB = 1 << 30
MiB = 1 << 20


def parse_size(text: str) -> int:
    """`1024`, `10KB`, `64MB`, `2GB` (also KiB/MiB/GiB) to bytes."""
    units = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    raw = text.strip().upper().replace("IB", "").rstrip("B")
    number = raw.rstrip("KMGT")
    unit = raw[len(number) :]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (try 512MB or 2GB)") from None
    if value < 0 or unit not in units:
        raise ValueError(f"not a size: {text!r} (try 512MB or 2GB)")
    return int(value * units[unit])


class CaptureOptions:
    """(A plain class: `dataclasses` would cost the agent's success path `inspect`.)"""

    max_input_bytes = 2 * GiB
    """Inputs are copied until their total reaches this; the rest are reference-only."""
    max_file_bytes = 1 * GiB
    """A single input larger than this is reference-only."""
    max_source_bytes = 64 * MiB
    max_source_files = 5000
    timeout = 300.0
    """Seconds the capture may take before the agent gives up (the step's outcome stands)."""
    wait_for_debugger = 0.0
    """Seconds a failed process listens for a debugger after capturing (0: not at all)."""
    debug_port = 5678

    def __init__(
        self,
        store: str | None = None,
        always: bool = False,
        inputs: list[str] | None = None,
        name: str | None = None,
        max_input_bytes: int = max_input_bytes,
        max_file_bytes: int = max_file_bytes,
        timeout: float = timeout,
        wait_for_debugger: float = wait_for_debugger,
        debug_port: int = debug_port,
    ) -> None:
        self.store = store
        self.always = always
        self.inputs = list(inputs or [])
        self.name = name
        self.max_input_bytes = max_input_bytes
        self.max_file_bytes = max_file_bytes
        self.timeout = timeout
        self.wait_for_debugger = wait_for_debugger
        self.debug_port = debug_port

    def to_env(self) -> dict[str, str]:
        env = {"REPLAY_CAPTURE": "1"}
        if self.store:
            env["REPLAY_STORE"] = self.store
        if self.always:
            env["REPLAY_ALWAYS"] = "1"
        if self.inputs:
            env["REPLAY_INPUTS"] = os.pathsep.join(self.inputs)
        if self.name:
            env["REPLAY_NAME"] = self.name
        env["REPLAY_MAX_INPUT_BYTES"] = str(self.max_input_bytes)
        env["REPLAY_MAX_FILE_BYTES"] = str(self.max_file_bytes)
        env["REPLAY_TIMEOUT"] = str(self.timeout)
        if self.wait_for_debugger:
            env["REPLAY_WAIT_FOR_DEBUGGER"] = str(self.wait_for_debugger)
            env["REPLAY_DEBUG_PORT"] = str(self.debug_port)
        return env

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] | None = None) -> CaptureOptions:
        env = os.environ if env is None else env
        opts = cls(
            store=env.get("REPLAY_STORE") or None,
            always=env.get("REPLAY_ALWAYS", "") not in ("", "0"),
            inputs=[p for p in env.get("REPLAY_INPUTS", "").split(os.pathsep) if p],
            name=env.get("REPLAY_NAME") or None,
        )
        for key, attr in (
            ("REPLAY_MAX_INPUT_BYTES", "max_input_bytes"),
            ("REPLAY_MAX_FILE_BYTES", "max_file_bytes"),
        ):
            if env.get(key, "").isdigit():
                setattr(opts, attr, int(env[key]))
        try:
            opts.timeout = float(env.get("REPLAY_TIMEOUT", "") or cls.timeout)
            opts.wait_for_debugger = float(env.get("REPLAY_WAIT_FOR_DEBUGGER", "0") or 0)
            opts.debug_port = int(env.get("REPLAY_DEBUG_PORT", "") or cls.debug_port)
        except ValueError:
            pass
        return opts
