"""Compare a capture's Python environment with this one, or build one that matches it.

`diff` lists Python and platform differences, then each distribution that is missing
here, extra here, of another version or installed from another source (an editable
checkout, another VCS commit), the packages whose code ran in the captured traceback
first. It exits 0 whatever it finds.

`create` builds a new virtual environment with the captured packages and never touches
the one replay runs in. It uses uv when it is on PATH, else venv and pip. Packages it
cannot match (editable or local installs of the capturing machine, private wheels,
versions the index lacks) are reported and the rest installed. Exit status: 0 when
everything matched, 1 when the environment lacks some packages, 2 when DIR cannot be
used (--force replaces an existing virtual environment, nothing else).

ID may be any unique prefix of a capture id.

examples:
  replay env diff 3f9a
  replay env diff 3f9a --json | jq -r '.drifts[] | select(.in_traceback) | .name'
  replay env create 3f9a --venv .venv-3f9a --python python3.8
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter

from replay.cli.common import add_capture_arguments, colour, open_store, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from replay.bundle import Manifest
    from replay.envcreate import CreateResult
    from replay.envdiff import Drift


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="env_action", metavar="ACTION", required=True)
    diff = actions.add_parser(
        "diff",
        help="what differs between the capture's environment and this one",
        description="Python, platform and package drift, packages in the traceback first.",
    )
    add_capture_arguments(diff)
    create = actions.add_parser(
        "create",
        help="build a virtual environment matching the capture",
        description="Create DIR with the capture's packages; report what could not be matched.",
    )
    add_capture_arguments(create)
    create.add_argument(
        "--venv", required=True, metavar="DIR", help="folder of the new environment"
    )
    create.add_argument(
        "--python", metavar="PY", help="interpreter to base it on (default: this one)"
    )
    create.add_argument(
        "--force", action="store_true", help="replace DIR if it is a virtual environment"
    )


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    manifest = store.load(store.resolve(args.id))
    if args.env_action == "diff":
        return _diff(manifest, args.json)
    return _create(manifest, args)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _shown(text: str) -> str:
    """Text from a capture (untrusted) with control characters blanked, so a hostile
    package name cannot move the cursor or rewrite the terminal."""
    return _CONTROL.sub("?", text)


def _diff(manifest: Manifest, as_json: bool) -> int:
    from replay import envdiff, lockfile

    here = lockfile.python_info()
    drifts = envdiff.diff(manifest, python=here)
    if as_json:
        captured = manifest.environment.python.get("version")
        document = {
            "capture": manifest.id,
            "python": {"captured": captured, "current": here["version"]},
            "drifts": [d.to_json() for d in drifts],
        }
        print_json(document)
    else:
        print("\n".join(_diff_report(manifest, here, drifts)))
    return 0


_VERBS = {
    "python": "Python",
    "platform": "platform",
    "missing": "missing here",
    "extra": "only here",
    "version": "other version",
    "source": "other source",
}


def _diff_report(manifest: Manifest, here: dict[str, str], drifts: list[Drift]) -> list[str]:
    there = manifest.environment.python
    theirs = " ".join(there.get(k, "?") for k in ("version", "platform", "machine"))
    ours = " ".join(here[k] for k in ("version", "platform", "machine"))
    lines = [f"capture {manifest.id}: Python {_shown(theirs)}; here: Python {ours}"]
    if not drifts:
        return [*lines, "no drift: this interpreter has the captured Python and packages"]
    width = max(len(d.name) for d in drifts)
    for d in drifts:
        mark = colour("!", "31") if d.in_traceback else " "
        name = colour(f"{_shown(d.name):<{width}}", "1")
        change = _shown(f"{d.captured or '-'} -> {d.current or '-'}")
        note = "  " + colour("(in the traceback)", "2") if d.in_traceback else ""
        lines.append(f"{mark} {name}  {_VERBS[d.kind]:<13}  {change}{note}")
    counts = Counter(d.kind for d in drifts)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    traced = sum(d.in_traceback for d in drifts)
    return [
        *lines,
        f"{len(drifts)} difference(s): {summary}; {traced} in the traceback",
        f"a matching environment: replay env create {manifest.id} --venv .venv-{manifest.id[:6]}",
    ]


def _create(manifest: Manifest, args: argparse.Namespace) -> int:
    from replay import envcreate

    def progress(message: str) -> None:
        print(f"replay: {_shown(message)}", file=sys.stderr, flush=True)

    result = envcreate.create(
        manifest, args.venv, force=args.force, python=args.python, progress=progress
    )
    if args.json:
        print_json(result.to_json())
    else:
        print(_shown("\n".join(_create_report(result))))
    return 1 if result.unmatched else 0


def _create_report(result: CreateResult) -> list[str]:
    lines = [
        f"created {result.venv} with {result.tool} (Python {result.python}): "
        f"{len(result.installed)} package(s) installed",
        *(f"note: {note}" for note in result.notes),
    ]
    if result.unmatched:
        lines.append(f"could not match {len(result.unmatched)}:")
        labels = [f"{u.name} {u.version}" for u in result.unmatched]
        width = max(map(len, labels))
        pairs = zip(labels, result.unmatched, strict=True)
        lines += [f"  {label:<{width}}  {u.reason}" for label, u in pairs]
    bin_dir = "Scripts" if os.name == "nt" else "bin"
    lines.append(f"activate: source {os.path.join(result.venv, bin_dir, 'activate')}")
    return lines
