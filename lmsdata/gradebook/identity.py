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


_by_pull: dict[tuple[str, str, str | None], dict[str, Duplicate]] = {}


def duplicate_of(db: sqlite_utils.Database, district_id: str, user_id: str) -> Duplicate | None:
    """The first suspicion that involves this user, if any.

    Computed once per district pull (users and events change only when a sync writes the district), so a
    retry of thousands of pushes checks each against one list instead of scanning the district each time.
    """
    cache_file = db.execute("PRAGMA database_list").fetchone()[2]
    pulled = db.execute("SELECT last_pulled_at FROM districts WHERE id = ?", [district_id]).fetchone()
    key = (cache_file, district_id, pulled[0] if pulled else None)
    if key not in _by_pull:
        if len(_by_pull) > 8192:  # one small dict per district pull: keep every district of a large cache
            _by_pull.clear()
        found: dict[str, Duplicate] = {}
        for duplicate in suspected_duplicates(db, district_id):
            for uid in duplicate.user_ids:
                found.setdefault(uid, duplicate)
        _by_pull[key] = found
    return _by_pull[key].get(user_id)
