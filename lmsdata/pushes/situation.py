"""What we know about a push's district, section and student: from the cache, or fresh from Clever.

The cache explains a failure when it happens (`from_cache`). Before a retry, `FreshLook` asks
Clever again, once per district, section and user in a run, and writes what it learned back into
the cache rows it read, so the dashboard shows the same truth the retry acted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils

from lmsdata.client import DistrictClient
from lmsdata.errors import NotFound, TokenRevoked
from lmsdata.gradebook.identity import refresh_suspects
from lmsdata.models import synced_in_lms
from lmsdata.pushes.taxonomy import Situation


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def from_cache(db: sqlite_utils.Database, push: Mapping[str, Any]) -> Situation:
    """The situation as the cache last saw it (unknowns stay None)."""
    district = db.execute(
        "SELECT lms_state, lms_type FROM districts WHERE id = ?", [push["district_id"]]
    ).fetchone()
    section = db.execute("SELECT synced_in_lms FROM sections WHERE id = ?", [push["section_id"]]).fetchone()
    student_matched = student_in_section = None
    if push.get("student_id"):
        user = db.execute("SELECT synced_in_lms FROM users WHERE id = ?", [push["student_id"]]).fetchone()
        student_matched = _flag(user[0]) if user else None
        if section is not None:
            member = db.execute(
                "SELECT 1 FROM section_users WHERE section_id = ? AND user_id = ?",
                [push["section_id"], push["student_id"]],
            ).fetchone()
            student_in_section = member is not None
    return Situation(
        kind=push["kind"],
        lms_state=district[0] if district else None,
        lms_type=district[1] if district else None,
        section_synced=_flag(section[0]) if section else None,
        student_matched=student_matched,
        student_in_section=student_in_section,
    )


class FreshLook:
    """Fresh answers from Clever for one district during one retry run, each fetched at most once."""

    def __init__(self, dc: DistrictClient, db: sqlite_utils.Database) -> None:
        self._dc = dc
        self._db = db
        self._district: dict[str, Any] | None = None
        self._refused: TokenRevoked | None = None
        self._sections: dict[str, dict[str, Any] | None] = {}
        self._users: dict[str, dict[str, Any] | None] = {}

    def district(self) -> dict[str, Any]:
        """The district object (raises TokenRevoked when Clever refuses the token, once a run)."""
        if self._refused is not None:
            raise self._refused
        if self._district is None:
            try:
                district = self._dc.get_district()
            except TokenRevoked as exc:
                self._refused = exc
                raise
            self._db.execute(
                "UPDATE districts SET lms_state = ?, lms_type = ? WHERE id = ?",
                [district.get("lms_state"), district.get("lms_type"), self._dc.district_id],
            )
            self._district = district
        return self._district

    def section(self, section_id: str) -> dict[str, Any] | None:
        """The section with its `students` and `lms_status`, or None if Clever no longer has it."""
        if section_id not in self._sections:
            section = self._get(f"/v3.1/sections/{section_id}")
            if section is not None:
                self._remember_section(section_id, section)
            self._sections[section_id] = section
        return self._sections[section_id]

    def user(self, user_id: str) -> dict[str, Any] | None:
        if user_id not in self._users:
            user = self._get(f"/v3.1/users/{user_id}")
            if user is not None:
                self._db.execute(
                    "UPDATE users SET synced_in_lms = ? WHERE id = ?", [synced_in_lms(user), user_id]
                )
            self._users[user_id] = user
        return self._users[user_id]

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            answer = self._dc.request("GET", path)
        except NotFound:
            return None
        data = answer.get("data") if isinstance(answer, Mapping) else None
        return dict(data) if isinstance(data, Mapping) else None

    def _remember_section(self, section_id: str, section: Mapping[str, Any]) -> None:
        self._db.execute(
            "UPDATE sections SET synced_in_lms = ? WHERE id = ?", [synced_in_lms(section), section_id]
        )
        students = section.get("students")
        known = self._db.execute("SELECT 1 FROM sections WHERE id = ?", [section_id]).fetchone()
        if not isinstance(students, list) or known is None:
            return
        before = {row[0] for row in self._db.execute(
            "SELECT user_id FROM section_users WHERE section_id = ? AND role = 'student'", [section_id])}
        with self._db.atomic():
            self._db.execute(
                "DELETE FROM section_users WHERE section_id = ? AND role = 'student'", [section_id]
            )
            self._db.conn.executemany(
                "INSERT OR IGNORE INTO section_users (section_id, user_id, role, district_id) "
                "VALUES (?, ?, 'student', ?)",
                [(section_id, str(sid), self._dc.district_id) for sid in students],
            )
            if before != {str(sid) for sid in students}:  # a look-alike may have joined or left the section
                refresh_suspects(self._db, self._dc.district_id)
