"""Plain-text rendering of a capture, shared by `replay show` and the demo."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replay.bundle import Manifest


def human_size(n: int) -> str:
    """Bytes as B/KB/MB/GB with one decimal (the CLI and the TUI show sizes alike)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def render_capture(m: Manifest, colour: Callable[[str, str], str]) -> str:
    lines = [
        colour(f"capture {m.id}", "1") + f"  step {m.step.name}  {m.status}  {m.created}",
        f"command   {' '.join(m.step.argv)}",
        f"cwd       {m.step.cwd}",
        f"outcome   exit {m.outcome.exit_code}"
        + (f", signal {m.outcome.signal}" if m.outcome.signal else "")
        + f", {m.outcome.duration_s:.2f} s"
        + (f", peak {m.outcome.peak_rss_kb // 1024} MB" if m.outcome.peak_rss_kb else ""),
        f"host      {m.environment.host.get('hostname', '?')}  python {m.environment.python.get('version', '?')}",
    ]
    f = m.failure
    if f is not None:
        lines.append("")
        lines.append(colour(f"{f.type}: {f.message}", "31"))
        site = f.site_frame()
        if site is not None:
            lines.append(f"  at {site.file}:{site.line} in {site.function}")
            if site.code:
                lines.append(f"    {site.code}")
            for name, value in list(site.locals.items())[:12]:
                first = value.splitlines()[0] if value else ""
                lines.append(f"    {name} = {first[:100]}")
        for cause in f.causes:
            lines.append(f"  {cause.relation}: {cause.type}: {cause.message[:200]}")
    if m.inputs:
        lines.append("")
        lines.append("inputs")
        for i in m.inputs:
            mark = "" if i.copied else colour("  (reference only)", "33")
            count = f", {len(i.files)} files" if i.kind == "dir" else ""
            lines.append(f"  {i.how:8} {i.path}  {human_size(i.size)}{count}{mark}")
    if m.outputs:
        lines.append("outputs")
        for o in m.outputs:
            lines.append(
                f"  {o.path}  existed at start: {'yes' if o.existed_at_start else 'no'}, "
                f"at end: {'yes' if o.existed_at_end else 'no'}"
            )
    env = m.environment
    lines.append("")
    redacted = (
        f"{len(env.redacted)} redacted: {', '.join(env.redacted[:6])}{'…' if len(env.redacted) > 6 else ''}"
        if env.redacted else "none redacted"
    )
    lines.append(
        f"environment  {len(env.variables)} variables ({redacted}), {len(env.distributions)} distributions"
    )
    lines.append(f"source       {m.step.source_root}  ({len(m.step.sources)} files)")
    if m.upstream:
        lines.append(f"upstream     {len(m.upstream)} recorded calls")
    if m.notes:
        lines.append("notes")
        lines.extend(f"  {n}" for n in m.notes)
    lines.append("")
    lines.append(f"next: replay run {m.id} --attach")
    return "\n".join(lines)
