"""Find a push from a ticket: every state (sent ones too: "prove we sent it"), across districts.

A support person has what the ticket says: a student (name, e-mail, SIS id or Clever id), a teacher,
a section, an assignment, or a day. Each is matched exactly (case-insensitive for names, e-mails and
titles) so every lookup is an index seek (migration `m010_push_search`), never a scan of a million
users. Each result comes with its attempts and its readiness now, from the cache
(`readiness.check` through `queries.pushes_by_id`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import sqlite_utils

from lmsdata import queries
from lmsdata.pushes.log import STATES

BY = ("any", "student", "teacher", "section", "assignment")
LIMIT = 200
ATTEMPT_COLUMNS = ("id", "push_id", "started_at", "trigger", "http_status", "message", "outcome", "duration_ms")


class SearchError(ValueError):
    """A search that cannot run as given; the message says what to change."""


@dataclass(frozen=True)
class Query:
    text: str = ""
    by: str = "any"  # which kind of thing `text` names; "any": each of them
    since: date | None = None  # pushes the partner produced on or after this day (UTC)
    until: date | None = None  # ... and on or before this day
    states: tuple[str, ...] = ()
    district_ids: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.text.strip() or self.since or self.until)


# Users a term names: Clever id, e-mail, SIS id, last name or "first last" (each its own index).
_USERS = """
    SELECT id FROM users WHERE id = :t
    UNION SELECT id FROM users WHERE email = :t COLLATE NOCASE
    UNION SELECT id FROM users WHERE sis_id = :t
    UNION SELECT id FROM users WHERE last_name = :t COLLATE NOCASE
    UNION SELECT id FROM users WHERE (first_name || ' ' || last_name) = :t COLLATE NOCASE
"""
_MATCHERS = {
    "student": f"SELECT id FROM pushes WHERE student_id = :t UNION "
               f"SELECT p.id FROM pushes p WHERE p.student_id IN ({_USERS})",
    "teacher": f"SELECT p.id FROM pushes p WHERE p.section_id IN "
               f"(SELECT s.id FROM sections s WHERE s.teacher_id IN ({_USERS}))",
    "section": """SELECT id FROM pushes WHERE section_id = :t UNION
                  SELECT p.id FROM pushes p WHERE p.section_id IN (
                      SELECT id FROM sections WHERE sis_id = :t
                      UNION SELECT id FROM sections WHERE name = :t COLLATE NOCASE)""",
    "assignment": """SELECT id FROM pushes WHERE assignment_key = :t UNION
                     SELECT p.id FROM pushes p JOIN assignments a ON a.district_id = p.district_id
                         AND a.section_id = p.section_id AND a.assignment_key = p.assignment_key
                     WHERE a.assignment_id = :t UNION
                     SELECT p.id FROM pushes p JOIN assignments a ON a.district_id = p.district_id
                         AND a.section_id = p.section_id AND a.assignment_key = p.assignment_key
                     WHERE a.title = :t COLLATE NOCASE""",
}  # fmt: skip


def matching_ids(db: sqlite_utils.Database, query: Query, *, limit: int = LIMIT) -> list[int]:
    """The ids of the newest `limit` pushes the query names (any state unless `states`)."""
    if query.by not in BY:
        raise SearchError(f"Search by one of: {', '.join(BY)}; not {query.by!r}.")
    if query.empty:
        raise SearchError("Give something to look for: a student, teacher, section, assignment, or a date range.")
    bad = [s for s in query.states if s not in STATES]
    if bad:
        raise SearchError(f"A push state is one of: {', '.join(STATES)}; not {', '.join(bad)}.")
    where, params = [], {"t": query.text.strip()}
    if query.text.strip():
        kinds = BY[1:] if query.by == "any" else (query.by,)
        where.append("p.id IN (" + " UNION ".join(_MATCHERS[kind] for kind in kinds) + ")")
    if query.since:
        where.append("p.created_at >= :since")
        params["since"] = _stamp(query.since)
    if query.until:
        where.append("p.created_at < :until")
        params["until"] = _stamp(query.until + timedelta(days=1))
    for column, values in (("state", query.states), ("district_id", query.district_ids)):
        if values:
            names = [f"{column}{n}" for n in range(len(values))]
            where.append(f"p.{column} IN ({', '.join(':' + n for n in names)})")
            params.update(zip(names, values, strict=True))
    # With a term, its matches drive (`+` keeps SQLite from walking every push in created_at order instead).
    order = "+p.created_at" if query.text.strip() else "p.created_at"
    sql = f"SELECT p.id FROM pushes p WHERE {' AND '.join(where)} ORDER BY {order} DESC, p.id DESC LIMIT :limit"
    return [row[0] for row in db.execute(sql, {**params, "limit": limit})]


def search(db: sqlite_utils.Database, query: Query, *, limit: int = LIMIT) -> pd.DataFrame:
    """Matching pushes, newest first, with names joined in, readiness now (`ready`, `ready_reason`, ...)
    and `attempts_list`: each push's attempts, oldest first."""
    ids = matching_ids(db, query, limit=limit)
    found = queries.pushes_by_id(db, ids)
    tried = attempts_of(db, ids)
    found["attempts_list"] = [tried.get(int(push_id), []) for push_id in found["id"]]
    return found


def attempts_of(db: sqlite_utils.Database, push_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Every attempt of these pushes, oldest first, by push id (one indexed read)."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    if not push_ids:
        return grouped
    marks = ", ".join("?" for _ in push_ids)
    cursor = db.execute(f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM push_attempts WHERE push_id IN ({marks}) "
                        "ORDER BY id", list(push_ids))  # fmt: skip
    for values in cursor:
        row = dict(zip(ATTEMPT_COLUMNS, values, strict=True))
        grouped.setdefault(int(row["push_id"]), []).append(row)
    return grouped


def _stamp(day: date) -> str:
    return datetime.combine(day, time()).strftime("%Y-%m-%dT%H:%M:%S.000Z")
