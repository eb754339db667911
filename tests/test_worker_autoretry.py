"""Automatic retries: a push failing with 503 is sent later by the worker (injected clock, no sleeping),
one that keeps failing is handed to a person after the last backoff step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata import audit
from lmsdata.db import connect
from lmsdata.pushes import SendPolicy
from lmsdata.pushes.retry import RetryOptions, retry_pushes
from lmsdata.pushes.taxonomy import Category
from lmsdata.worker.autoretry import run_auto_retries
from tests.push_fixtures import Lab

BACKOFF = (300.0, 1800.0)
NO_INNER_RETRIES = RetryOptions(policy=SendPolicy(auto_retries=0))


def _row(lab: Lab, push_id: int) -> dict:  # type: ignore[type-arg]
    with connect(lab.db_path) as db:
        return next(db.query("SELECT * FROM auto_retries WHERE push_id = ?", [push_id]))


def test_a_503_is_sent_later_and_a_lasting_failure_goes_to_a_person(lab: Lab) -> None:
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with lab.client() as client:
        canvas, section, pusher = lab.canvas_quiz(client)
        healing, stuck = lab.students(section)[:2]
        lab.sandbox.inject(f"/submissions/{healing}", status=503, count=3, method="PATCH")
        lab.sandbox.inject(f"/submissions/{stuck}", status=503, count=100, method="PATCH")
        first = pusher.push_grade(canvas, section["id"], "quiz-1", healing, {"grade_points": 17})
        second = pusher.push_grade(canvas, section["id"], "quiz-1", stuck, {"grade_points": 11})
        assert first.state == second.state == "failed" and first.category == Category.TRANSIENT
        writes = len(lab.writes("submission.update"))

        def cycle(at: datetime) -> str:
            return run_auto_retries(client, lab.db_path, BACKOFF, at, options=NO_INNER_RETRIES)

        assert "2 new transient failure(s) followed; none due" in cycle(t0)
        assert cycle(t0 + timedelta(minutes=4)).endswith("none due")  # the first step is 5 minutes
        assert len(lab.writes("submission.update")) == writes
        # The three 503s went to the pusher's own attempts: the worker's attempt finds Clever healthy.
        assert "1 sent, 1 waiting" in cycle(t0 + timedelta(minutes=6))
        assert lab.push_row(first.push_id)["state"] == "sent"
        sent = lab.writes("submission.update")[writes:]
        assert [(w["user_id"], w["body"].get("grade_points")) for w in sent] == [(healing, 17)]
        assert _row(lab, first.push_id)["state"] == "sent"
        waiting = _row(lab, second.push_id)
        assert waiting["state"] == "waiting" and waiting["next_at"].startswith("2026-12-01T12:36")

        assert cycle(t0 + timedelta(minutes=20)).endswith("none due")
        assert "1 handed to a person" in cycle(t0 + timedelta(minutes=40))
        handed = _row(lab, second.push_id)
        assert handed["state"] == "handed_off" and handed["attempts"] == 2
        assert "still failing after 2 automatic attempts" in handed["note"], handed["note"]
        assert cycle(t0 + timedelta(days=3)).endswith("none due")  # a person has it now; never picked up again
        assert len(lab.writes("submission.update")) == writes + 1  # the stuck grade never reached Clever
    with connect(lab.db_path) as db:
        assert {r["actor"] for r in audit.entries(db, action="retry")} == {"worker"}


@pytest.mark.parametrize(("outcome", "category", "attempts_before", "expected"), [
    ("sent", None, 0, "sent"),
    ("failed", "transient", 0, "waiting"),
    ("failed", "transient", 1, "handed_off"),          # the last of the two steps
    ("skipped", "student_not_matched", 0, "waiting"),  # still blocked or held by another run: later
    ("skipped", None, 1, "handed_off"),
    ("failed", "payload_invalid", 0, "handed_off"),    # time will not fix it
    ("superseded", None, 0, "handed_off"),
    ("unknown", "outcome_unknown", 0, "handed_off"),
])  # fmt: skip
def test_advance(db_path: Path, outcome: str, category: str | None, attempts_before: int, expected: str) -> None:
    from lmsdata.pushes.retry import RetryItem
    from lmsdata.worker.autoretry import advance

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with connect(db_path) as db:
        db.execute("INSERT INTO auto_retries (push_id, attempts, state, updated_at) VALUES (1, ?, 'waiting', 'x')",
                   [attempts_before])
        assert advance(db, RetryItem(1, outcome, "why", category=category), BACKOFF, now) == expected
        row = next(db.query("SELECT * FROM auto_retries"))
    assert row["attempts"] == attempts_before + 1
    assert ("why" in row["note"]) == (expected != "sent")  # the note carries what the retry said
    assert (row["next_at"] is not None) == (expected == "waiting")


def test_a_write_that_may_still_land_keeps_its_step_and_is_looked_at_after_it_settles(db_path: Path) -> None:
    from lmsdata.pushes.retry import RetryItem
    from lmsdata.worker.autoretry import advance

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with connect(db_path) as db:
        db.execute("INSERT INTO auto_retries (push_id, attempts, state, updated_at) VALUES (1, 1, 'waiting', 'x')")
        item = RetryItem(1, "skipped", "may still be in progress", recheck_at="2026-12-01T12:01:00.000Z")
        assert advance(db, item, BACKOFF, now) == "waiting"
        row = next(db.query("SELECT * FROM auto_retries"))
    assert row["attempts"] == 1  # a killed run's write is not a failed attempt
    assert row["next_at"] == "2026-12-01T12:01:00.000Z" and "in progress" in row["note"]


def test_a_push_sent_after_its_last_automatic_attempt_closes_its_schedule(lab: Lab) -> None:
    """A worker killed between sending and recording it, or a person's retry in between: the row is
    closed the next time the worker looks, instead of waiting forever on a push that is not failed."""
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with lab.client() as client:
        canvas, section, pusher = lab.canvas_quiz(client)
        student = lab.students(section)[0]
        lab.sandbox.inject(f"/submissions/{student}", status=503, count=3, method="PATCH")
        failed = pusher.push_grade(canvas, section["id"], "quiz-1", student, {"grade_points": 9})
        assert "1 new transient failure(s) followed" in run_auto_retries(client, lab.db_path, BACKOFF, t0)
        retry_pushes(client, lab.db_path, [failed.push_id], actor="someone")  # by hand, before the step is due
        writes = len(lab.writes("submission.update"))
        assert run_auto_retries(client, lab.db_path, BACKOFF, t0 + timedelta(hours=1)).endswith("none due")
    row = _row(lab, failed.push_id)
    assert row["state"] == "sent" and "no longer failed" in row["note"]
    assert len(lab.writes("submission.update")) == writes
