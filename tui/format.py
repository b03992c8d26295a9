"""Small text helpers shared by the screens: times, sizes, one-line previews.

Kept free of Textual so the browser's row model and the tests can use them cheaply.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> datetime | None:
    """An ISO timestamp from a manifest, as an aware datetime (UTC if it names no zone)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def relative_time(when: datetime | None, now: datetime) -> str:
    """"4 min ago" for recent captures, the date for old ones: what a user scans for."""
    if when is None:
        return "?"
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return when.strftime("%Y-%m-%d")
    if seconds < 60:
        return "just now"
    for limit, unit, size in ((3600, "min", 60), (86400, "h", 3600), (7 * 86400, "d", 86400)):
        if seconds < limit:
            return f"{int(seconds // size)} {unit} ago"
    return when.strftime("%Y-%m-%d")


def first_line(text: str, limit: int = 200) -> str:
    """The first line of `text`, bounded, with a mark when something was cut.

    Debugger values can be a whole DataFrame's repr; a tree row shows one line.
    """
    head, _, rest = text.partition("\n")
    cut = bool(rest) or len(head) > limit
    head = head[:limit]
    return head + " …" if cut else head
