"""Split identities: Clever users of one district who are likely the same person (docs/gradebook.md).

A grade pushed to the wrong one of two accounts silently lands in another student's gradebook, so
the guard holds pushes to any user listed here until an operator confirms them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

RULES = {
    "same_email": "two users of the district share this e-mail",
    "same_sis_id": "two users of the district share this SIS id",
    "same_name_in_section": "two students with the same name in one section",
    "took_old_email": "a user's e-mail changed and another user now has the old one",
    "took_old_sis_id": "a user's SIS id changed and another user now has the old one",
}

_GROUPS = {
    "same_email": """
        SELECT district_id, lower(trim(email)) AS value, group_concat(id, ' ') AS ids FROM users
        WHERE trim(coalesce(email, '')) != '' {district}
        GROUP BY district_id, lower(trim(email)) HAVING count(*) > 1""",
    "same_sis_id": """
        SELECT district_id, trim(sis_id) AS value, group_concat(id, ' ') AS ids FROM users
        WHERE trim(coalesce(sis_id, '')) != '' {district}
        GROUP BY district_id, trim(sis_id) HAVING count(*) > 1""",
    "same_name_in_section": """
        SELECT su.district_id, su.section_id || ': ' || lower(trim(u.first_name)) || ' ' || lower(trim(u.last_name))
               AS value, group_concat(u.id, ' ') AS ids
        FROM section_users su JOIN users u ON u.id = su.user_id
        WHERE su.role = 'student' AND trim(coalesce(u.first_name, '') || coalesce(u.last_name, '')) != ''
          {su_district}
        GROUP BY su.district_id, su.section_id, lower(trim(u.first_name)), lower(trim(u.last_name))
        HAVING count(*) > 1""",
}

_TOOK_OLD = """
    SELECT DISTINCT e.district_id, old.value AS value, e.object_id || ' ' || u.id AS ids
    FROM events e
    JOIN (SELECT id, coalesce(json_extract(previous_attributes, :flat),
                              json_extract(previous_attributes, :nested)) AS value FROM events
          WHERE type = 'users.updated' {district}) old ON old.id = e.id
    JOIN users u ON u.district_id = e.district_id AND u.id != e.object_id AND {column} = {old}
    WHERE e.type = 'users.updated' AND trim(coalesce(old.value, '')) != ''
      {e_district}"""


@dataclass(frozen=True)
class Duplicate:
    district_id: str
    rule: str
    value: str           # what they share (shown masked in the UI)
    user_ids: tuple[str, ...]

    @property
    def reason(self) -> str:
        return RULES[self.rule]


def suspected_duplicates(db: sqlite_utils.Database, district_id: str | None = None) -> list[Duplicate]:
    """Every group of users that are likely one person, by rule; a district's list when `district_id` is given."""
    found: list[Duplicate] = []
    params = {"district": district_id}
    # a plain `district_id = ?` so SQLite uses the district indexes (one district is what the guard asks for)
    where = {name: f"AND {column} = :district" if district_id is not None else ""
             for name, column in (("district", "district_id"), ("su_district", "su.district_id"),
                                  ("e_district", "e.district_id"))}
    for rule, sql in _GROUPS.items():
        for did, value, ids in db.execute(sql.format(**where), params).fetchall():
            found.append(Duplicate(did, rule, value, tuple(sorted(ids.split()))))
    for rule, column, flat, nested in (
        ("took_old_email", "lower(trim({}))", "$.email", "$.data.email"),
        ("took_old_sis_id", "trim({})", "$.sis_id", "$.roles.student.sis_id"),
    ):
        sql = _TOOK_OLD.format(column=column.format("u." + rule.removeprefix("took_old_")),
                               old=column.format("old.value"), **where)
        for did, value, ids in db.execute(sql, {**params, "flat": flat, "nested": nested}).fetchall():
            found.append(Duplicate(did, rule, value.strip(), tuple(sorted(ids.split()))))
    return found


def refresh_suspects(db: sqlite_utils.Database, district_id: str | None = None) -> int:
    """Store the district's suspected duplicates (every district's when None) in `identity_suspects`.

    Called inside the transaction that writes the district's users (lmsdata.sync), so readiness and the
    Gradebook page read one indexed row per student instead of running the rules over the district on
    every page load. Returns the number of groups stored.
    """
    if district_id is None:
        db.execute("DELETE FROM identity_suspects")
    else:
        db.execute("DELETE FROM identity_suspects WHERE district_id = ?", [district_id])
    found = suspected_duplicates(db, district_id)
    positions: dict[str, int] = {}
    rows = []
    for duplicate in found:
        position = positions[duplicate.district_id] = positions.get(duplicate.district_id, -1) + 1
        rows += [(duplicate.district_id, uid, position, duplicate.rule, duplicate.value, " ".join(duplicate.user_ids))
                 for uid in duplicate.user_ids]  # fmt: skip
    db.conn.executemany(
        "INSERT OR IGNORE INTO identity_suspects (district_id, user_id, position, rule, value, user_ids) "
        "VALUES (?, ?, ?, ?, ?, ?)", rows)  # fmt: skip
    return len(found)


def _stored(district_id: str, rule: str, value: str, user_ids: str) -> Duplicate:
    return Duplicate(district_id, rule, value, tuple(user_ids.split()))


def _pulled(db: sqlite_utils.Database, district_id: str) -> bool:
    """Whether the cache holds the district's row: sync (and the migration) store its suspects with it.
    A district without one was written by hand (or by another tool): its rules run live instead."""
    return db.execute("SELECT 1 FROM districts WHERE id = ?", [district_id]).fetchone() is not None


def stored_duplicates(db: sqlite_utils.Database, district_id: str | None = None) -> list[Duplicate]:
    """`suspected_duplicates` as the last sync stored it (one district's, or all), by district and rule order."""
    if district_id is not None and not _pulled(db, district_id):
        return suspected_duplicates(db, district_id)
    where, params = ("WHERE district_id = ?", [district_id]) if district_id is not None else ("", [])
    rows = db.execute(
        f"SELECT district_id, rule, value, user_ids FROM identity_suspects {where} "
        "GROUP BY district_id, position ORDER BY district_id, position", params).fetchall()  # fmt: skip
    return [_stored(*row) for row in rows]


def duplicate_of(db: sqlite_utils.Database, district_id: str, user_id: str) -> Duplicate | None:
    """The first suspicion that involves this user, if any: one indexed read of what sync stored."""
    if not _pulled(db, district_id):
        return next((d for d in suspected_duplicates(db, district_id) if user_id in d.user_ids), None)
    row = db.execute(
        "SELECT rule, value, user_ids FROM identity_suspects WHERE district_id = ? AND user_id = ? "
        "ORDER BY position LIMIT 1", [district_id, user_id]).fetchone()  # fmt: skip
    return _stored(district_id, *row) if row else None
