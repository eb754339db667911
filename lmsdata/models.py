"""Tolerant parsing of Clever objects into cache rows.

Clever adds enum values and fields over time, sends `null`, `""` or nothing for the same idea, and
does not document whether percentages are 0-1 or 0-100. These functions accept all of that: unknown
fields are ignored, unknown enum values are kept as they are, missing values become NULL.
Rows are plain tuples in the column order of the `*_COLUMNS` constants, so the sync can hand them
to `executemany` without per-row dictionaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLE_PRIORITY = ("student", "teacher", "staff", "district_admin", "contact")

DISTRICT_COLUMNS = (
    "id", "name", "lms_type", "lms_state", "last_lms_sync",
    "matched_students", "matched_teachers", "matched_sections",
    "sis_state", "sis_error", "last_sis_sync", "contact_name", "contact_email", "contact_title", "raw",
)  # fmt: skip
SCHOOL_COLUMNS = ("id", "district_id", "name", "school_number", "sis_id", "low_grade", "high_grade")
TERM_COLUMNS = ("id", "district_id", "name", "start_date", "end_date")
SECTION_COLUMNS = (
    "id", "district_id", "school_id", "term_id", "name", "period", "section_number", "sis_id",
    "subject", "grade", "teacher_id", "student_count", "synced_in_lms", "last_modified",
)  # fmt: skip
SECTION_USER_COLUMNS = ("section_id", "user_id", "role", "district_id")
USER_COLUMNS = (
    "id", "district_id", "role", "first_name", "last_name", "email", "sis_id", "school_id",
    "grade", "synced_in_lms", "last_modified",
)  # fmt: skip


@dataclass(frozen=True)
class DistrictToken:
    """One district's bearer token. The token never shows in a repr, a log line or a traceback."""

    district_id: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: str | None
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None

    @property
    def record_type(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def action(self) -> str:
        return self.type.rsplit(".", 1)[-1]


_EMPTY: dict[str, Any] = {}


def text(value: Any) -> str | None:
    """A string or NULL: numbers become strings, objects and lists NULL. (Hot path: 1M+ calls a sync.)"""
    if value is None or type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        return None
    return str(value)


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def synced_in_lms(obj: Mapping[str, Any]) -> int | None:
    """1 / 0 from `lms_status.synced_in_lms`, NULL when Clever does not report it."""
    status = obj.get("lms_status")
    value = status.get("synced_in_lms") if isinstance(status, dict) else None
    if value is True or value is False:
        return int(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return int(value.lower() == "true")
    return None


def percentage(value: Any) -> float | None:
    """A number 0-100 from a number or string such as `97.5`, `"97.5%"` (fractions are scaled later)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip().rstrip("%").strip()
        if not value:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is not a percentage


def matched_percentages(value: Any) -> tuple[float | None, float | None, float | None]:
    """(students, teachers, sections) on a 0-100 scale.

    The shape is undocumented: keys may be singular or plural, values 0-1 or 0-100. When every
    reported value is at most 1 the set is read as fractions.
    """
    obj = _obj(value)
    found = []
    for key in ("students", "teachers", "sections"):
        raw = obj.get(key, obj.get(key[:-1]))
        found.append(percentage(raw))
    present = [v for v in found if v is not None]
    if present and max(present) <= 1.0 and any(0 < v < 1 for v in present):
        found = [None if v is None else v * 100 for v in found]
    return found[0], found[1], found[2]


def _full_name(name: Any) -> str | None:
    parts = [text(_obj(name).get(k)) for k in ("first", "middle", "last")]
    joined = " ".join(p for p in parts if p)
    return joined or None


def district_row(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    contact = _obj(obj.get("district_contact"))
    students, teachers, sections = matched_percentages(obj.get("lms_matched_percentage"))
    return (
        text(obj.get("id")),
        text(obj.get("name")) or text(obj.get("id")),
        text(obj.get("lms_type")),
        text(obj.get("lms_state")),
        text(obj.get("last_lms_sync")),
        students,
        teachers,
        sections,
        text(obj.get("state")),
        text(obj.get("error")),
        text(obj.get("last_sync")),
        _full_name(contact.get("name")),
        text(contact.get("email")),
        text(contact.get("title")),
        json.dumps(obj, sort_keys=True, separators=(",", ":")),
    )


def school_row(obj: Mapping[str, Any], district_id: str) -> tuple[Any, ...]:
    g = obj.get
    return (
        text(g("id")),
        text(g("district")) or district_id,
        text(g("name")),
        text(g("school_number")),
        text(g("sis_id")),
        text(g("low_grade")),
        text(g("high_grade")),
    )


def term_row(obj: Mapping[str, Any], district_id: str) -> tuple[Any, ...]:
    g = obj.get
    return (
        text(g("id")),
        text(g("district")) or district_id,
        text(g("name")),
        text(g("start_date")),
        text(g("end_date")),
    )


def _ids(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def section_rows(
    obj: Mapping[str, Any], district_id: str
) -> tuple[tuple[Any, ...], list[tuple[str, str, str, str]]]:
    """The section row and its membership rows (teachers first, so a user listed twice stays a teacher)."""
    g = obj.get
    section_id = text(g("id")) or ""
    district = text(g("district")) or district_id
    students = _ids(g("students"))
    teachers = _ids(g("teachers"))
    primary = text(g("teacher"))
    if primary and primary not in teachers:
        teachers.insert(0, primary)
    seen: set[str] = set()
    members = []
    for role, ids in (("teacher", teachers), ("student", students)):
        for user_id in ids:
            if user_id not in seen:
                seen.add(user_id)
                members.append((section_id, user_id, role, district))
    row = (
        section_id,
        district,
        text(g("school")),
        text(g("term_id")),
        text(g("name")),
        text(g("period")),
        text(g("section_number")),
        text(g("sis_id")),
        text(g("subject")),
        text(g("grade")),
        primary or (teachers[0] if teachers else None),
        len(set(students)),
        synced_in_lms(obj),
        text(g("last_modified")),
    )
    return row, members


def user_role(roles: Any) -> str:
    """The user's main role; a role Clever adds later is kept as its own name."""
    roles = _obj(roles)
    for role in ROLE_PRIORITY:
        if roles.get(role) is not None:
            return role
    return next((k for k, v in roles.items() if v is not None), "unknown")


def user_row(obj: Mapping[str, Any], district_id: str) -> tuple[Any, ...]:
    g = obj.get
    roles = _obj(g("roles"))
    role = user_role(roles)
    details = _obj(roles.get(role))
    name = _obj(g("name"))
    return (
        text(g("id")),
        text(g("district")) or district_id,
        role,
        text(name.get("first")),
        text(name.get("last")),
        text(g("email")),
        text(details.get("sis_id")),
        text(details.get("school")) or (_ids(details.get("schools")) or [None])[0],
        text(details.get("grade")),
        synced_in_lms(obj),
        text(g("last_modified")),
    )


def parse_event(item: Mapping[str, Any]) -> Event | None:
    """An event from the unwrapped list item; `previous_attributes` may sit inside or next to `data`."""
    event_id = text(item.get("id"))
    kind = text(item.get("type"))
    if not event_id or not kind:
        return None
    data = _obj(item.get("data"))
    previous = data.get("previous_attributes", item.get("previous_attributes"))
    return Event(
        id=event_id,
        type=kind,
        created=text(item.get("created")),
        object=dict(_obj(data.get("object"))),
        previous_attributes=dict(previous) if isinstance(previous, Mapping) else None,
    )


def unwrap(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Data API list items come wrapped as `{"data": {...}, "uri": ...}`; tolerate bare ones too."""
    for item in items:
        if not isinstance(item, dict):
            continue
        inner = item.get("data")
        yield inner if isinstance(inner, dict) and "id" not in item else item
