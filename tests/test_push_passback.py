"""Grade passback through `GradePusher` against the sandbox over loopback HTTP: every failure category
is produced by the sandbox itself and classified with its owner and next step."""

from __future__ import annotations

import pytest

from lmsdata.db import connect
from lmsdata.pushes import Category, PushRefused, list_pushes
from lmsdata.pushes.log import assignment_row, attempts
from tests.push_fixtures import ASSIGNMENT, Lab

GRADE = {"grade_points": 17, "state": "returned", "grade_comment": "Good"}


def _listed(lab: Lab, push_id: int) -> dict:
    with connect(lab.db_path) as db:
        return next(row for row in list_pushes(db) if row["id"] == push_id)


def test_push_log_and_every_category_from_the_sandbox(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    schoology = lab.district("success", "schoology")
    waiting = lab.district("matching_in_progress")
    section = lab.synced_section(canvas)
    matched, unmatched = lab.students(section)[0], lab.students(section, matched=False)[0]
    with lab.client() as client:
        newcomer = lab.sandbox.add_user(canvas, "student", [lab.unsynced_section(canvas)["id"]])["id"]
        lab.sandbox.set_user_matched(newcomer, True)
        lab.sync(client)
        pusher = lab.pusher(client)

        created = pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
        assert created.ok and created.assignment_id
        with connect(lab.db_path) as db:  # Clever cannot list assignments later: the id is kept at once
            assert assignment_row(db, canvas, section["id"], "quiz-1")["assignment_id"] == created.assignment_id
        with pytest.raises(PushRefused, match="already exists"):
            pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)

        sent = pusher.push_grade(canvas, section["id"], "quiz-1", matched, GRADE)
        assert sent.ok
        assert lab.sandbox.submission(section["id"], created.assignment_id, matched)["grade_points"] == 17

        outcomes = {
            Category.STUDENT_NOT_MATCHED: pusher.push_grade(canvas, section["id"], "quiz-1", unmatched, GRADE),
            Category.STUDENT_NOT_IN_SECTION: pusher.push_grade(canvas, section["id"], "quiz-1", newcomer, GRADE),
            Category.SECTION_NOT_SYNCED: pusher.create_assignment(
                canvas, lab.unsynced_section(canvas)["id"], "quiz-1", ASSIGNMENT),
            Category.DISTRICT_NOT_READY: pusher.create_assignment(
                waiting, lab.synced_section(waiting)["id"], "quiz-1", ASSIGNMENT),
            Category.PAYLOAD_INVALID: pusher.create_assignment(
                canvas, section["id"], "quiz-late", {**ASSIGNMENT, "due_date": "2020-01-01T00:00:00Z"}),
        }  # fmt: skip

        s_section = lab.synced_section(schoology)
        not_launched = lab.students(s_section, launched=False)[0]
        assert pusher.create_assignment(schoology, s_section["id"], "essay", ASSIGNMENT).ok
        outcomes[Category.SCHOOLOGY_NOT_LAUNCHED] = pusher.push_grade(
            schoology, s_section["id"], "essay", not_launched, GRADE
        )

        lab.sandbox.delete_assignment_in_lms(created.assignment_id)  # a teacher deletes it in the LMS
        outcomes[Category.ASSIGNMENT_DELETED] = pusher.push_grade(canvas, section["id"], "quiz-1", matched, GRADE)
        with connect(lab.db_path) as db:
            assert assignment_row(db, canvas, section["id"], "quiz-1")["deleted_at"] is not None

        lab.sandbox.set_lms_state(waiting, "error")
        lab.sync(client)
        outcomes[Category.DISTRICT_LMS_ERROR] = pusher.create_assignment(
            waiting, lab.synced_section(waiting)["id"], "quiz-2", ASSIGNMENT
        )

    for expected, outcome in outcomes.items():
        assert (outcome.state, outcome.category) == ("failed", expected), outcome
        row = _listed(lab, outcome.push_id)
        assert (row["category"], row["owner"], row["next_step"]) == (expected.slug, expected.owner, expected.next_step)
    assert outcomes[Category.STUDENT_NOT_MATCHED].message == "User not found"  # Clever's words, verbatim
    assert outcomes[Category.SCHOOLOGY_NOT_LAUNCHED].message == "Error updating submission"
    assert outcomes[Category.PAYLOAD_INVALID].message == "due_date must be in the future"
    assert outcomes[Category.DISTRICT_NOT_READY].message == "LMS Connect is not enabled for this district"


def test_transient_failures_retry_with_backoff_and_are_logged(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    student = lab.students(section)[0]
    slept: list[float] = []
    with lab.client() as client:
        pusher = lab.pusher(client, sleep=slept.append)
        assert pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT).ok

        lab.sandbox.inject("/submissions/", status=503, count=1)
        recovered = pusher.push_grade(canvas, section["id"], "quiz-1", student, GRADE)
        assert recovered.ok
        lab.sandbox.inject("/submissions/", status=502, count=5)
        gave_up = pusher.push_grade(canvas, section["id"], "quiz-1", student, {**GRADE, "grade_points": 18})

    assert (gave_up.state, gave_up.category) == ("failed", Category.TRANSIENT)
    assert Category.TRANSIENT.owner == "nobody"
    with connect(lab.db_path) as db:
        assert [(a["http_status"], a["trigger"]) for a in attempts(db, recovered.push_id)] == [
            (503, "first"), (200, "auto")]
        assert [(a["http_status"], a["trigger"]) for a in attempts(db, gave_up.push_id)] == [
            (502, "first"), (502, "auto"), (502, "auto")]
    assert len(slept) == 3 and slept[1] <= 0.02 and slept[2] > slept[1] / 4  # bounded, growing backoff


def test_revoked_token_and_unknown_create_outcome(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    schoology = lab.district("success", "schoology")
    section = lab.synced_section(canvas)
    with lab.client(write_timeout=0.3) as client:
        pusher = lab.pusher(client)
        lab.sandbox.inject("/assignments", delay_s=1.0, count=1, method="POST")  # Clever answers too late
        unknown = pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
        assert (unknown.state, unknown.category) == ("unknown", Category.OUTCOME_UNKNOWN)

        lab.sandbox.revoke_token(schoology)
        s_section = lab.synced_section(schoology)
        revoked = pusher.create_assignment(schoology, s_section["id"], "essay", ASSIGNMENT)
    assert (revoked.state, revoked.category, revoked.status) == ("failed", Category.TOKEN_REVOKED, 403)
    assert Category.TOKEN_REVOKED.owner == "district" and "re-authorize" in Category.TOKEN_REVOKED.next_step
    assert "lmsdata pushes resolve" in _listed(lab, unknown.push_id)["next_step"]


def test_a_newer_grade_supersedes_older_unsent_ones_at_once(lab: Lab) -> None:
    with lab.client() as client:
        canvas, section, pusher = lab.canvas_quiz(client)
        unmatched = lab.students(section, matched=False)[0]
        first = pusher.push_grade(canvas, section["id"], "quiz-1", unmatched, {"grade_points": 10})
        second = pusher.push_grade(canvas, section["id"], "quiz-1", unmatched, {"grade_points": 12})
    assert first.state == second.state == "failed"
    row = lab.push_row(first.push_id)
    assert (row["state"], row["superseded_by"]) == ("superseded", second.push_id)
    assert lab.push_row(second.push_id)["state"] == "failed"


def test_bad_calls_are_refused_before_anything_is_logged(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    with lab.client() as client:
        pusher = lab.pusher(client)
        with pytest.raises(PushRefused, match="non-empty JSON object"):
            pusher.push_grade(canvas, "s", "quiz-1", "u", {})
        with pytest.raises(PushRefused, match="student's Clever user id"):
            pusher.push_grade(canvas, "s", "quiz-1", "", {"grade_points": 1})
    with connect(lab.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM pushes").fetchone()[0] == 0
