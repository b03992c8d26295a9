"""VS Code attach configurations for a replay: write or merge `.vscode/launch.json`.

An existing file is edited as text so the user's other configurations and comments
stay exactly as they were; only our configuration (found by name) is added or
replaced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from replay import jsonc
from replay.errors import UsageError


def attach_configuration(name: str, host: str, port: int, remote_root: str,
                         local_root: str = "${workspaceFolder}") -> dict[str, Any]:
    return {
        "name": name,
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": host, "port": port},
        "pathMappings": [{"localRoot": local_root, "remoteRoot": remote_root}],
        "justMyCode": False,
    }


def _indent(block: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in block.splitlines())


def merge(text: str | None, config: dict[str, Any]) -> str:
    """The launch.json text with `config` added, or replacing the one of the same name."""
    body = json.dumps(config, indent=2)
    if text is None or not text.strip():
        return json.dumps({"version": "0.2.0", "configurations": [config]}, indent=2) + "\n"
    try:
        data = jsonc.loads(text)
    except ValueError as exc:
        raise UsageError(f"launch.json is not valid JSON with comments ({exc}); fix it or use --output") from None
    if not isinstance(data, dict):
        raise UsageError("launch.json does not hold an object")
    found = jsonc.array_elements(text, "configurations")
    if found is None:
        if "configurations" in data:
            raise UsageError("launch.json's \"configurations\" is not a list")
        close = text.rstrip().rfind("}")
        sep = "," if data else ""
        insert = f'{sep}\n  "configurations": [\n{_indent(body, 4)}\n  ]\n'
        return text[:close].rstrip() + insert + text[close:]
    bracket, spans = found
    names = [c.get("name") if isinstance(c, dict) else None for c in data["configurations"]]
    if config["name"] in names:
        start, end = spans[names.index(config["name"])]
        return text[:start] + _indent(body, 4).lstrip() + text[end:]
    insert = "\n" + _indent(body, 4) + ("," if spans else "")
    return text[: bracket + 1] + insert + text[bracket + 1 :]


def write_configuration(path: Path, config: dict[str, Any]) -> None:
    text = path.read_text() if path.exists() else None
    new = merge(text, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new)
    os.replace(tmp, path)
