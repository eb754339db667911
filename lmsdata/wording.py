"""Small wording rules every message shares: plurals, possessives, LMS names, relative times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

LMS_NAMES = {"canvas": "Canvas", "schoology": "Schoology", "google_classroom": "Google Classroom"}


def plural(count: int | None, noun: str) -> str:
    """'1 district', '2 districts', '1,200 grade pushes'."""
    n = int(count or 0)
    if n == 1:
        return f"1 {noun}"
    ending = "es" if noun.endswith(("s", "sh", "ch", "x")) else "s"
    return f"{n:,} {noun}{ending}"


def possessive(name: str) -> str:
    """'Gary ISD's', but 'Burlington County Schools''."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def lms_name(lms_type: str | None) -> str:
    """How people say Clever's lms_type: 'google_classroom' → 'Google Classroom'; '' when none."""
    value = (lms_type or "").strip()
    return LMS_NAMES.get(value, value.replace("_", " ").title())


def _moment(value: Any) -> datetime | None:
    """An aware datetime from a datetime, a pandas Timestamp or the cache's ISO text; None when absent or unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None  # None, NaN, NaT (a NaT is a datetime subclass only in name: caught below)
    if moment != moment:  # NaT
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def span(delta: timedelta | float) -> str:
    """A length of time the way people say it: '40 s', '3 min', '5 h', '8 days' (days from 48 h on)."""
    seconds = abs(delta.total_seconds() if isinstance(delta, timedelta) else float(delta))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def relative(at: Any, now: datetime, *, missing: str = "") -> str:
    """'3 min ago', 'in 2 h', '8 days ago', 'just now': every time the dashboard and CLI show.

    `missing` (default empty: empty cells stay empty) when there is no time; 'unknown' when it is unreadable.
    """
    if at is None or (isinstance(at, str) and not at.strip()):
        return missing
    moment = _moment(at)
    if moment is None:
        return missing if not isinstance(at, str) else "unknown"
    delta = (now if now.tzinfo else now.replace(tzinfo=UTC)) - moment
    seconds = delta.total_seconds()
    if abs(seconds) < 60:
        return "just now" if seconds >= 0 else "in under a minute"
    return f"{span(delta)} ago" if seconds > 0 else f"in {span(delta)}"


def local_time(at: Any) -> str:
    """The absolute time in this machine's time zone, for the hover text next to a relative time ('' if none)."""
    moment = _moment(at)
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
