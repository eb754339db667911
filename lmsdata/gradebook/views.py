"""What the Gradebook page and the District page read: counts per assignment, student rows, a district summary."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from lmsdata.gradebook.verdict import STATES

_COUNTS = ", ".join(f"SUM(g.state = '{s}') AS {s}" for s in STATES)


LIMIT = 1000  # rows a page lists at most (a large partner's read-back holds one row per pushed grade)


def _district(alias: str, district_id: str | None) -> tuple[str, list[Any]]:
    """A plain `district_id = ?` when one district is asked for, so SQLite uses the district index."""
    return (f"{alias}.district_id = ?", [district_id]) if district_id is not None else ("1", [])


def assignment_counts(db: sqlite_utils.Database, district_id: str | None = None,
                      limit: int | None = LIMIT) -> list[dict[str, Any]]:
    """One row per district, section and assignment with a count per reconcile state (the first `limit`)."""
    where, params = _district("g", district_id)
    sql = f"""
        SELECT g.district_id, d.name AS district, g.section_id, s.name AS section, g.assignment_key,
               {", ".join(f"g.{state}" for state in STATES)}, g.checked_at
        FROM (SELECT district_id, section_id, assignment_key, {_COUNTS}, MAX(checked_at) AS checked_at
              FROM gradebook_rows g WHERE {where} GROUP BY district_id, section_id, assignment_key) g
        LEFT JOIN districts d ON d.id = g.district_id LEFT JOIN sections s ON s.id = g.section_id
        ORDER BY d.name, s.name, g.assignment_key{" LIMIT ?" if limit else ""}
    """
    return list(db.query(sql, [*params, *([limit] if limit else [])]))


def student_rows(db: sqlite_utils.Database, district_id: str | None = None,
                 states: tuple[str, ...] = (), limit: int | None = LIMIT) -> list[dict[str, Any]]:
    """Per student: our grade beside the LMS's, who changed it and when (names are masked by the UI).

    The first `limit` rows are chosen before the names are joined in, so a large read-back costs
    `limit` joins, not one per row."""
    wanted = ", ".join(f"'{s}'" for s in (states or STATES) if s in STATES) or "''"
    where, params = _district("g", district_id)
    order = "g.district_id, g.section_id, g.assignment_key, g.state, g.student_id"
    sql = f"""
        SELECT g.district_id, g.section_id, g.assignment_key, g.student_id,
               trim(coalesce(u.first_name, '') || ' ' || coalesce(u.last_name, '')) AS student,
               u.email AS student_email, g.state, g.push_id, p.state AS push_state, g.our_grade,
               coalesce(g.lms_grade, CAST(g.lms_grade_points AS TEXT)) AS lms_value, g.lms_grader_id,
               trim(coalesce(t.first_name, '') || ' ' || coalesce(t.last_name, '')) AS changed_by,
               g.lms_last_modified AS changed_at, g.checked_at
        FROM (SELECT * FROM gradebook_rows g WHERE {where} AND g.state IN ({wanted})
              ORDER BY {order}{" LIMIT ?" if limit else ""}) g
        LEFT JOIN users u ON u.id = g.student_id LEFT JOIN users t ON t.id = g.lms_grader_id
        LEFT JOIN pushes p ON p.id = g.push_id
        ORDER BY {order}
    """
    return list(db.query(sql, [*params, *([limit] if limit else [])]))


def district_summary(db: sqlite_utils.Database, district_id: str) -> dict[str, Any]:
    """Counts per state and when the district's gradebook was last read (None: never)."""
    row = db.execute(f"SELECT {_COUNTS} FROM gradebook_rows g WHERE g.district_id = ?", [district_id]).fetchone()
    last = db.execute("SELECT MAX(reconciled_at) FROM gradebook_sections WHERE district_id = ?",
                      [district_id]).fetchone()[0]
    return {"counts": {s: int(n or 0) for s, n in zip(STATES, row, strict=True)}, "reconciled_at": last}
