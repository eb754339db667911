"""Retry gating: can this push succeed now? Re-checks its blocking condition with fresh data from Clever.

A push blocked by something only the district or Clever support can fix would fail again, cost a
request and alarm whoever reads the log, so it is skipped with the reason instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from lmsdata.models import synced_in_lms
from lmsdata.pushes import log
from lmsdata.pushes.situation import FreshLook
from lmsdata.pushes.taxonomy import Category


@dataclass(frozen=True)
class Blocked:
    category: Category
    reason: str


def blocker(db: sqlite_utils.Database, look: FreshLook, push: Mapping[str, Any]) -> Blocked | None:
    """The condition that still blocks `push`, checked against Clever now; None when it may be sent.

    The district is checked for every push (one request per district per run); the section or the
    student only when the push's last failure was about them. Raises TokenRevoked from the district check.
    """
    district = look.district()
    state = district.get("lms_state")
    if "lms_state" in district and state != "success":  # null: LMS Connect not set up
        category = Category.DISTRICT_LMS_ERROR if state == "error" else Category.DISTRICT_NOT_READY
        shown = repr(state) if state else "not set"
        return Blocked(category, f"the district's lms_state is still {shown} (needs 'success')")
    category = Category.from_slug(push["category"]) if push.get("category") else None
    if category is Category.SECTION_NOT_SYNCED:
        return _section_blocker(look, push["section_id"])
    if category in (Category.STUDENT_NOT_MATCHED, Category.STUDENT_NOT_IN_SECTION) and push.get("student_id"):
        return _student_blocker(look, push["section_id"], push["student_id"])
    waiting = category in (Category.ASSIGNMENT_DELETED, Category.ASSIGNMENT_NOT_CREATED)
    if waiting and not log.live_assignment_id(db, push["district_id"], push["section_id"], push["assignment_key"]):
        what = "was deleted in the LMS and not created again" if category is Category.ASSIGNMENT_DELETED \
            else "has not been created in Clever yet"
        return Blocked(category, f"assignment {push['assignment_key']!r} {what}")
    if category is Category.PAYLOAD_INVALID:
        return Blocked(
            category,
            f"Clever rejected exactly this payload ({push.get('last_status')}: {push.get('last_message')!r}); "
            "sending it again would fail the same way",
        )
    return None


def _section_blocker(look: FreshLook, section_id: str) -> Blocked | None:
    section = look.section(section_id)
    if section is None:
        return Blocked(Category.SECTION_NOT_SYNCED, f"Clever no longer has section {section_id}")
    if synced_in_lms(section) == 0:
        return Blocked(Category.SECTION_NOT_SYNCED, f"section {section_id} is still not synced in the LMS")
    return None


def _student_blocker(look: FreshLook, section_id: str, student_id: str) -> Blocked | None:
    user = look.user(student_id)
    if user is None:
        return Blocked(Category.STUDENT_NOT_IN_SECTION, f"Clever no longer has student {student_id}")
    if synced_in_lms(user) == 0:
        return Blocked(Category.STUDENT_NOT_MATCHED, f"student {student_id} is still not matched in the LMS")
    section = look.section(section_id)
    students = section.get("students") if section else None
    if isinstance(students, list) and student_id not in students:
        return Blocked(Category.STUDENT_NOT_IN_SECTION, f"student {student_id} is not in section {section_id}")
    return None


def matches(payload_json: str, current: Mapping[str, Any]) -> bool:
    """True when every field we sent already has that value in Clever (the write took effect)."""
    payload = json.loads(payload_json)
    return all(_same(value, current.get(key)) for key, value in payload.items())


def _same(sent: Any, seen: Any) -> bool:
    if isinstance(sent, bool) or isinstance(seen, bool):
        return sent == seen
    if isinstance(sent, (int, float)) and isinstance(seen, (int, float)):
        return abs(float(sent) - float(seen)) < 1e-9
    if isinstance(sent, str) and isinstance(seen, str) and sent != seen:
        try:
            return log.parse_time(sent) == log.parse_time(seen)
        except ValueError:
            return False
    if isinstance(sent, list) and isinstance(seen, list) and len(sent) == len(seen):
        return all(_same(a, b) for a, b in zip(sent, seen, strict=True))
    return bool(sent == seen or (sent in (None, [], "") and seen in (None, [], "")))
