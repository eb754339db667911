"""A push blocked on an unmatched student is released by the worker once the sandbox matches the
student and a sync shows it, and the release says why."""

from __future__ import annotations

from lmsdata.db import connect
from lmsdata.pushes.taxonomy import Category
from lmsdata.worker.release import release_fixed
from tests.push_fixtures import Lab

AT = "2026-12-01T12:00:00Z"


def test_a_push_blocked_on_an_unmatched_student_is_released_after_a_sync_sees_the_match(lab: Lab) -> None:
    with lab.client() as client:
        canvas, section, pusher = lab.canvas_quiz(client)
        student = lab.students(section, matched=False)[0]
        blocked = pusher.push_grade(canvas, section["id"], "quiz-1", student, {"grade_points": 18})
        assert blocked.state == "failed" and blocked.category == Category.STUDENT_NOT_MATCHED
        writes = len(lab.writes("submission.update"))

        assert release_fixed(client, lab.db_path, AT) == "no blocked push released"
        lab.sandbox.set_user_matched(student, True)
        assert release_fixed(client, lab.db_path, AT) == "no blocked push released"  # no sync has seen it yet
        lab.sync(client)
        assert release_fixed(client, lab.db_path, AT) == "1 of 1 unblocked push(es) released"
        assert release_fixed(client, lab.db_path, AT) == "no blocked push released"  # sent: never again

    sent = lab.writes("submission.update")[writes:]
    assert [(w["user_id"], w["body"].get("grade_points")) for w in sent] == [(student, 18)]
    assert lab.push_row(blocked.push_id)["state"] == "sent"
    with connect(lab.db_path) as db:
        row = next(db.query("SELECT * FROM auto_retries WHERE push_id = ?", [blocked.push_id]))
    assert row["state"] == "released" and row["note"] == "released because the student is now matched in the LMS: sent"
