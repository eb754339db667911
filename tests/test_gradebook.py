"""Reading the gradebook back over loopback against the sandbox: every reconcile state, the minimum requests,
and the guard that keeps retries off a teacher's hand edit until an operator says otherwise."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata import audit
from lmsdata.access import Principal, Role
from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.gradebook import overwrite_anyway, reconcile
from lmsdata.pushes import retry_pushes
from lmsdata.pushes.taxonomy import Category
from tests.push_fixtures import ASSIGNMENT, CLIENT_ID, CLIENT_SECRET, Lab, running_lab

GRADE = {"grade_points": 15, "state": "returned"}
OPERATOR = Principal("ops@partner.example", Role.OPERATOR)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("gradebook")) as lab:
        yield lab


def _states(lab: Lab) -> dict[tuple[str, str], str]:
    with connect(lab.db_path) as db:
        return {(r["assignment_key"], r["student_id"]): r["state"] for r in db.query("SELECT * FROM gradebook_rows")}


def test_each_state_is_produced_and_detected_and_a_teacher_edit_is_never_clobbered(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    landed, edited, normalised, *_ = lab.students(section)
    unmatched = lab.students(section, matched=False)[0]
    teacher = section["teacher"]
    with lab.client() as client:
        pusher = lab.pusher(client)
        assert pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT).ok
        assert pusher.create_assignment(canvas, section["id"], "quiz-2", ASSIGNMENT).ok
        for student in (landed, edited, normalised):
            assert pusher.push_grade(canvas, section["id"], "quiz-1", student, GRADE).ok
        assert pusher.push_grade(canvas, section["id"], "quiz-1", unmatched, GRADE).state == "failed"
        assert pusher.push_grade(canvas, section["id"], "quiz-2", landed, GRADE).ok
        quiz1 = lab.writes("assignment.create")[-2]["assignment_id"]
        quiz2 = lab.writes("assignment.create")[-1]["assignment_id"]
        lab.sandbox.gradebook.teacher_edit(quiz1, edited, None, 18, teacher)            # a teacher's hand edit
        lab.sandbox.gradebook.teacher_edit(quiz1, normalised, None, 14, "", -60)         # not after ours, no grader
        lab.sandbox.delete_assignment_in_lms(quiz2)
        # The partner pushes a newer grade for the edited student; it fails on a transient error.
        lab.sandbox.inject(f"submissions/{edited}", status=500, count=3, method="PATCH")
        newer = pusher.push_grade(canvas, section["id"], "quiz-1", edited, {"grade_points": 12})
        assert newer.state == "failed"

    with lab.client() as client:
        report = reconcile(client, lab.db_path, district_id=canvas)
    assert _states(lab) == {
        ("quiz-1", landed): "landed", ("quiz-1", edited): "override", ("quiz-1", normalised): "different",
        ("quiz-1", unmatched): "missing", ("quiz-2", landed): "assignment_gone",
    }
    # Fewest requests: the token listing, one page per 100 submissions of quiz-1, one answer for quiz-2.
    eligible = len(lab.students(section))
    assert report.requests == 1 + math.ceil(eligible / 100) + 1
    assert report.summary() == {"landed": 1, "missing": 1, "different": 1, "override": 1, "assignment_gone": 1}

    with lab.client() as client:  # nothing pushed since: an incremental reconcile reads nothing
        assert reconcile(client, lab.db_path, district_id=canvas).requests == 0

    patches = len(lab.writes("submission.update"))
    with lab.client() as client:
        operator_retry = retry_pushes(client, lab.db_path, [newer.push_id], actor=OPERATOR)
        automatic_retry = retry_pushes(client, lab.db_path, all_failed=True, district_id=canvas)
    for run in (operator_retry, automatic_retry):
        item = next(i for i in run.items if i.push_id == newer.push_id)
        assert item.outcome == "skipped" and "a teacher changed this grade" in item.reason
    assert len(lab.writes("submission.update")) == patches
    assert lab.sandbox.submission(section["id"], quiz1, edited)["grade_points"] == 18

    with pytest.raises(PermissionError):
        overwrite_anyway(lab.db_path, newer.push_id, Principal("v@partner.example", Role.VIEWER))
    overwrite_anyway(lab.db_path, newer.push_id, OPERATOR, "the partner's regrade wins")
    with lab.client() as client:
        sent = retry_pushes(client, lab.db_path, [newer.push_id], actor=OPERATOR)
    assert [i.outcome for i in sent.items] == ["sent"]
    assert lab.sandbox.submission(section["id"], quiz1, edited)["grade_points"] == 12
    with connect(lab.db_path) as db:
        rows = [(e["action"], e["outcome"]) for e in audit.entries(db, action="overwrite_teacher")]
    assert ("overwrite_teacher", "ok") in rows and ("overwrite_teacher", "refused") in rows


def _graded_then_edited(lab: Lab, key: str, nth: int, grade: str | None, points: float | None
                        ) -> tuple[str, dict, str, str]:
    """A new assignment `key` graded for the section's `nth` student, then changed by the teacher in the LMS."""
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    student = lab.students(section)[nth]
    with lab.client() as client:
        pusher = lab.pusher(client)
        assert pusher.create_assignment(canvas, section["id"], key, ASSIGNMENT).ok
        assert pusher.push_grade(canvas, section["id"], key, student, GRADE).ok
    assignment_id = lab.writes("assignment.create")[-1]["assignment_id"]
    lab.sandbox.gradebook.teacher_edit(assignment_id, student, grade, points, section["teacher"])
    return canvas, section, student, assignment_id


def test_cli_reconcile_exports_teacher_edits_in_the_documented_shape(lab: Lab, tmp_path: Path) -> None:
    canvas, section, student, quiz3 = _graded_then_edited(lab, "quiz-3", 0, "A-", None)
    out = tmp_path / "edits.jsonl"
    args = ["reconcile", "--district", canvas, "--sandbox", lab.url, "--db", str(lab.db_path), "--export", str(out)]
    result = CliRunner(env={"CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET}).invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "1 override" in result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [r for r in records if r["assignment_key"] == "quiz-3"]
    assert mine == [{
        "version": 1, "kind": "teacher_override", "district_id": canvas, "section_id": section["id"],
        "assignment_key": "quiz-3", "assignment_id": quiz3, "student_id": student, "push_id": mine[0]["push_id"],
        "ours": {"grade": None, "grade_points": 15},
        "lms": {"grade": "A-", "grade_points": None, "grader_id": section["teacher"],
                "last_modified": mine[0]["lms"]["last_modified"]},
        "checked_at": mine[0]["checked_at"],
    }]
    bad = CliRunner().invoke(cli, ["reconcile", "--since", "yesterday", "--sandbox", lab.url, "--db", str(lab.db_path)])
    assert bad.exit_code == 2 and "is not a date" in bad.output


def test_a_new_grade_over_a_teachers_edit_is_held_before_any_request(lab: Lab) -> None:
    """Not only retries: the partner's next push for that student waits for an operator too."""
    canvas, section, student, held_quiz = _graded_then_edited(lab, "quiz-held", 3, None, 19)
    with lab.client() as client:
        reconcile(client, lab.db_path, district_id=canvas)
        patches = len(lab.writes("submission.update"))
        held = lab.pusher(client).push_grade(canvas, section["id"], "quiz-held", student, {"grade_points": 9})
    assert (held.state, held.category) == ("failed", Category.HELD_FOR_OPERATOR)
    assert "a teacher changed this grade" in (held.message or "")
    assert len(lab.writes("submission.update")) == patches
    assert lab.sandbox.submission(section["id"], held_quiz, student)["grade_points"] == 19
