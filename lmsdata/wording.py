"""Small wording rules every message shares: plurals, possessives, LMS names."""

from __future__ import annotations

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
