"""Plain-text rendering of findings, for `replay doctor` and the demo.

`colour(text, code)` decides whether ANSI codes are used (the CLI colours only on a
terminal), so this module stays free of any terminal logic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from replay.bundle import Manifest
from replay.doctor.finding import Finding

_SEVERITY_COLOUR = {"error": "1;31", "warning": "1;33", "info": "1;36"}


def render_findings(m: Manifest, findings: Sequence[Finding], colour: Callable[[str, str], str]) -> str:
    """A header naming the capture, then each finding: message, evidence, fix."""
    headline = f"{m.failure.type}: {m.failure.message}".splitlines()[0] if m.failure else f"exit {m.outcome.exit_code}"
    lines = [colour(f"capture {m.id}", "1") + f"  step {m.step.name}  {headline[:160]}", ""]
    if not findings:
        lines.append(
            f"no known failure pattern in capture {m.id}. Look at it with 'replay show {m.id}', "
            f"or debug it with 'replay run {m.id} --attach'."
        )
        return "\n".join(lines)
    for finding in findings:
        tag = colour(f"{finding.severity:7}", _SEVERITY_COLOUR[finding.severity])
        lines.append(f"{tag} {colour(finding.code, '1')}  ({finding.confidence} confidence)")
        lines.append(f"  {finding.message}")
        lines.extend(colour(f"    | {line}", "2") for line in finding.evidence)
        lines.append(f"  {colour('fix:', '32')} {finding.fix}")
        lines.append("")
    count = len(findings)
    lines.append(f"{count} finding{'s' if count != 1 else ''}; 'replay doctor {m.id} --json' for scripts")
    return "\n".join(lines)
