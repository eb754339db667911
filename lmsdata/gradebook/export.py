"""Teacher edits as JSON Lines a partner backend can import (the shape is documented in docs/gradebook.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import sqlite_utils

EXPORT_VERSION = 1
LMS_CHANGED = ("override", "different")


def lms_changes(db: sqlite_utils.Database, district_id: str | None = None) -> Iterator[dict[str, Any]]:
    """One record per student whose LMS grade is not the one we pushed, newest check first."""
    sql = f"""
        SELECT * FROM gradebook_rows WHERE state IN ({", ".join("?" * len(LMS_CHANGED))})
          AND (? IS NULL OR district_id = ?) ORDER BY district_id, section_id, assignment_key, student_id
    """
    for row in db.query(sql, [*LMS_CHANGED, district_id, district_id]):
        yield {
            "version": EXPORT_VERSION, "kind": "teacher_override" if row["state"] == "override" else "lms_different",
            "district_id": row["district_id"], "section_id": row["section_id"],
            "assignment_key": row["assignment_key"], "assignment_id": row["assignment_id"],
            "student_id": row["student_id"], "push_id": row["push_id"],
            "ours": json.loads(row["our_grade"] or "{}"),
            "lms": {"grade": row["lms_grade"], "grade_points": row["lms_grade_points"],
                    "grader_id": row["lms_grader_id"], "last_modified": row["lms_last_modified"]},
            "checked_at": row["checked_at"],
        }  # fmt: skip


def write_jsonl(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, sort_keys=True) + "\n")
        count += 1
    return count
