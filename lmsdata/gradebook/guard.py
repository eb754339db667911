"""Never clobber a teacher, never grade the wrong twin: the one reason a push must wait for an operator.

Issue 10's readiness check folds `hold_reason` in; until then the retry path calls it (lmsdata/pushes/retry.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from lmsdata.gradebook.approvals import IDENTITY, OVERWRITE_TEACHER
from lmsdata.gradebook.identity import duplicate_of


@dataclass(frozen=True)
class Hold:
    kind: str        # teacher_override | split_identity
    reason: str


def _approved(db: sqlite_utils.Database, kind: str, subject: str) -> bool:
    return db.execute("SELECT 1 FROM push_approvals WHERE kind = ? AND subject = ?", [kind, subject]).fetchone() \
        is not None


def hold_reason(db: sqlite_utils.Database, push: Mapping[str, Any]) -> Hold | None:
    """Why this grade push must not be sent without an operator's audited go-ahead; None when it may."""
    student = push.get("student_id")
    if push.get("kind") != "submission_update" or not student:
        return None
    edited = db.execute(
        "SELECT lms_grade, lms_grade_points, lms_grader_id, lms_last_modified FROM gradebook_rows "
        "WHERE district_id = ? AND section_id = ? AND assignment_key = ? AND student_id = ? AND state = 'override'",
        [push["district_id"], push["section_id"], push["assignment_key"], student],
    ).fetchone()
    if edited and not _approved(db, OVERWRITE_TEACHER, str(push["id"])):
        grade = edited[0] if edited[0] is not None else edited[1]
        return Hold("teacher_override",
                    f"a teacher changed this grade in the LMS to {grade!r} (grader {edited[2] or 'unknown'}, "
                    f"{edited[3] or 'time unknown'}); an operator must choose 'overwrite anyway' to replace it")
    twin = duplicate_of(db, push["district_id"], student)
    if twin and not _approved(db, IDENTITY, student):
        others = ", ".join(u for u in twin.user_ids if u != student)
        return Hold("split_identity", f"this student may be the same person as {others} ({twin.reason}); "
                                      "an operator must confirm the identity before grades are sent")
    return None
