"""Attendance (`/attendance/sections/{id}`, `/attendance/schools/{id}`), generated from the seed on request.

Small on purpose: the last ten school days before the sandbox started. A section lists each member
student's `section` attendance per day; a school lists each of its students' `daily` attendance. A
record's status is drawn from `Random(seed, section or school, student, day)`, so it never depends
on what else was asked, and nothing is stored. Records have no id in Clever's spec, so they sort by
their `sis_id` (day, student, section), which is also what `starting_after` / `ending_before` take
[INF]; `limit` is 1-1000 as the spec declares (400 outside).
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lmsdata.sandbox import paging
from lmsdata.sandbox.data import Collection
from lmsdata.sandbox.http import Request, Response, message
from lmsdata.sandbox.timefmt import iso
from lmsdata.sandbox.world import World, role_of

SCHOOL_DAYS = 10
MAX_LIMIT = 1000
STATUSES = ("present", "absent", "tardy")
_WEIGHTS = (90, 6, 4)
EXCUSES = ("", "ILL", "APPT")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def school_days(started_at: float) -> list[date]:
    """The last SCHOOL_DAYS weekdays before the day the sandbox started, oldest first."""
    day = datetime.fromtimestamp(started_at, UTC).date()
    days: list[date] = []
    while len(days) < SCHOOL_DAYS:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days[::-1]


def _limit(request: Request) -> int | Response:
    raw = request.param("limit")
    if raw in (None, ""):
        return paging.DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        return message(400, f'limit in query must be of type integer: "{raw}"')
    if limit < 1:
        return message(400, "limit in query should be greater than or equal to 1")
    if limit > MAX_LIMIT:
        return message(400, f"limit in query should be less than or equal to {MAX_LIMIT}")
    return limit


def _date_param(request: Request, name: str) -> date | Response | None:
    """A `format: date` parameter: YYYY-MM-DD and a real day, else 400."""
    raw = request.param(name)
    if raw is None:
        return None
    try:
        if not _DATE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        return message(400, f'{name} in query must be of type date: "{raw}"')


class AttendanceApi:
    def __init__(self, world: World) -> None:
        self.world = world

    def for_section(self, request: Request, index: int, section_id: str) -> Response:
        found = self.world.section(section_id)
        if found is None or found[0] != index:
            return message(404, "Resource not found")
        section = found[1]
        students = sorted(section.get("students") or [])
        return self._answer(request, index, students, section["school"], section_id)

    def for_school(self, request: Request, index: int, school_id: str) -> Response:
        found = self.world.school(school_id)
        if found is None or found[0] != index:
            return message(404, "Resource not found")
        students = [json.loads(blob)["data"] for blob in self.world.collection(index, "users", "student").blobs]
        ids = sorted(u["id"] for u in students if role_of(u) == "student"
                     and u["roles"]["student"].get("school") == school_id)
        return self._answer(request, index, ids, school_id, None)

    def _answer(self, request: Request, index: int, students: list[str], school_id: str,
                section_id: str | None) -> Response:
        limit = _limit(request)
        if isinstance(limit, Response):
            return limit
        start, end = _date_param(request, "date_range_start"), _date_param(request, "date_range_end")
        if isinstance(start, Response):
            return start
        if isinstance(end, Response):
            return end
        status = request.param("attendance_status")
        if status is not None and status not in STATUSES:
            return message(400, f"attendance_status in query should be one of [{' '.join(STATUSES)}]")
        items = Collection()
        for day in school_days(self.world.started_at):
            if (start is not None and day < start) or (end is not None and day > end):
                continue
            for student in students:
                record = self._record(index, day, student, school_id, section_id)
                if status is None or record["attendance_status"] == status:
                    items.ids.append(record["sis_id"])
                    items.blobs.append(_dumps(record).encode())
        return paging.page(request, items, limit)

    def _record(self, index: int, day: date, student: str, school_id: str, section_id: str | None) -> dict[str, Any]:
        place = section_id or school_id
        rng = random.Random(f"attendance:{self.world.seed}:{place}:{student}:{day.isoformat()}")
        status = rng.choices(STATUSES, weights=_WEIGHTS)[0]
        taken = datetime(day.year, day.month, day.day, 15, 30, tzinfo=UTC).timestamp()
        record: dict[str, Any] = {
            "sis_id": f"{day.strftime('%Y%m%d')}-{student}-{section_id or 'daily'}",
            "attendance_date": day.isoformat(),
            "attendance_status": status,
            "attendance_type": "section" if section_id else "daily",
            "district_id": self.world.district_id(index),
            "school_id": school_id,
            "student_id": student,
            "created": iso(taken),
            "last_modified": iso(taken),
        }
        if section_id:
            record["section_id"] = section_id
        if status != "present":
            record["excuse_code"] = rng.choice(EXCUSES)
        return record
