"""Retries against the sandbox over loopback HTTP: gating on fresh data, supersession, unknown creates,
audit, and the CLI. (Overlapping runs, kill-and-resume and pacing: tests/test_retry_safety.py.)"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata import audit
from lmsdata.cli import cli
from lmsdata.client import CleverClient
from lmsdata.db import connect, data_version
from lmsdata.errors import CleverError
from lmsdata.pushes import Category, retry_pushes
from lmsdata.pushes.importer import import_jsonl
from lmsdata.pushes.resolve import ResolveError, resolve_unknown
from tests.push_fixtures import ASSIGNMENT, CLIENT_ID, CLIENT_SECRET, Lab

GRADE = {"grade_points": 15, "state": "returned"}


def _by_id(report) -> dict:  # type: ignore[no-untyped-def]
    return {item.push_id: item for item in report.items}


def test_gating_rechecks_fresh_data_and_sends_only_what_can_succeed(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    schoology = lab.district("success", "schoology")
    section = lab.synced_section(canvas)
    unsynced = lab.unsynced_section(canvas)
    unmatched = lab.students(section, matched=False)[0]
    s_section = lab.synced_section(schoology)
    not_launched = lab.students(s_section, launched=False)[0]
    past_due = {**ASSIGNMENT, "due_date": "2020-01-01"}
    with lab.client() as client:
        pusher = lab.pusher(client)
        pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
        pusher.create_assignment(schoology, s_section["id"], "essay", ASSIGNMENT)
        failed = {
            "unmatched": pusher.push_grade(canvas, section["id"], "quiz-1", unmatched, GRADE),
            "unsynced_create": pusher.create_assignment(canvas, unsynced["id"], "quiz-1", ASSIGNMENT),
            "waits_for_create": pusher.push_grade(canvas, unsynced["id"], "quiz-1", unsynced["students"][0], GRADE),
            "not_launched": pusher.push_grade(schoology, s_section["id"], "essay", not_launched, GRADE),
            "bad_payload": pusher.create_assignment(canvas, section["id"], "late", past_due),
        }  # fmt: skip
        assert all(o.state == "failed" for o in failed.values())
        ids = {name: o.push_id for name, o in failed.items()}
        writes_before = len(lab.writes())

        blocked = retry_pushes(client, lab.db_path, all_failed=True, actor="tester")
        items = _by_id(blocked)
        assert items[ids["unmatched"]].outcome == "skipped"
        assert "is still not matched in the LMS" in items[ids["unmatched"]].reason
        assert Category.STUDENT_NOT_MATCHED.next_step in items[ids["unmatched"]].reason
        assert "still not synced in the LMS" in items[ids["unsynced_create"]].reason
        assert "has not been created in Clever yet" in items[ids["waits_for_create"]].reason
        assert "sending it again would fail the same way" in items[ids["bad_payload"]].reason
        # No Clever API tells whether a Schoology student has launched: the write itself is the check.
        assert (items[ids["not_launched"]].outcome, items[ids["not_launched"]].category) == (
            "failed", "schoology_not_launched")
        assert len(lab.writes()) == writes_before

        # The district and Clever support fix things; the cache does not know yet (no sync).
        lab.sandbox.set_user_matched(unmatched, True)
        lab.sandbox.set_section_synced(unsynced["id"], True)
        lab.sandbox.mark_launched(not_launched)
        with connect(lab.db_path) as db:
            assert db.execute("SELECT synced_in_lms FROM users WHERE id = ?", [unmatched]).fetchone()[0] == 0

        preview = retry_pushes(client, lab.db_path, all_failed=True, dry_run=True)
        assert _by_id(preview)[ids["unmatched"]].outcome == "ready"
        assert len(lab.writes()) == writes_before  # a dry run reads Clever, writes nothing

        fixed = retry_pushes(client, lab.db_path, all_failed=True, actor="tester")
    items = _by_id(fixed)
    for name in ("unmatched", "unsynced_create", "waits_for_create", "not_launched"):
        assert items[ids[name]].outcome == "sent", (name, items[ids[name]])
    assert items[ids["bad_payload"]].outcome == "skipped"
    # the create went out before the grade that needed it
    kinds = [w["kind"] for w in lab.writes() if w["section_id"] == unsynced["id"]]
    assert kinds == ["assignment.create", "submission.update"]
    with connect(lab.db_path) as db:  # what the gate learned from Clever is now in the cache
        assert db.execute("SELECT synced_in_lms FROM users WHERE id = ?", [unmatched]).fetchone()[0] == 1
        assert db.execute("SELECT synced_in_lms FROM sections WHERE id = ?", [unsynced["id"]]).fetchone()[0] == 1
        runs = audit.entries(db, action="retry")
        assert [r["actor"] for r in runs] == ["tester", "system", "tester"]
        params = json.loads(runs[0]["params"])
        assert params["counts"] == {"sent": 4, "failed": 0, "skipped": 1, "superseded": 0, "unknown": 0}
        assert runs[0]["outcome"] == "ok" and "4 sent" in runs[0]["detail"]
        assert json.loads(runs[1]["params"])["dry_run"] is True


def test_district_not_ready_and_deleted_assignment_wait_until_fixed(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    waiting = lab.district("matching_in_progress")
    section = lab.synced_section(canvas)
    student = lab.students(section)[0]
    with lab.client() as client:
        pusher = lab.pusher(client)
        early = pusher.create_assignment(waiting, lab.synced_section(waiting)["id"], "quiz-1", ASSIGNMENT)
        created = pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
        lab.sandbox.delete_assignment_in_lms(created.assignment_id)
        orphan = pusher.push_grade(canvas, section["id"], "quiz-1", student, GRADE)
        assert (early.category, orphan.category) == (Category.DISTRICT_NOT_READY, Category.ASSIGNMENT_DELETED)

        first = _by_id(retry_pushes(client, lab.db_path, [early.push_id, orphan.push_id]))
        assert "lms_state is still 'matching_in_progress'" in first[early.push_id].reason
        assert "was deleted in the LMS and not created again" in first[orphan.push_id].reason

        lab.sandbox.set_lms_state(waiting, "success")
        recreated = pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)  # allowed: it was deleted
        assert recreated.ok and recreated.assignment_id != created.assignment_id
        second = _by_id(retry_pushes(client, lab.db_path, [early.push_id, orphan.push_id]))
    assert second[early.push_id].outcome == second[orphan.push_id].outcome == "sent"
    assert lab.sandbox.submission(section["id"], recreated.assignment_id, student)["grade_points"] == 15


def test_only_the_newest_payload_is_sent_and_never_an_older_one_over_a_newer(lab: Lab, tmp_path: Path) -> None:
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    unmatched = lab.students(section, matched=False)[0]
    matched = lab.students(section)[0]
    with lab.client() as client:
        pusher = lab.pusher(client)
        assignment = pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT).assignment_id
        grades = [pusher.push_grade(canvas, section["id"], "quiz-1", unmatched, {"grade_points": p})
                  for p in (10, 12, 14)]  # fmt: skip
        newest = pusher.push_grade(canvas, section["id"], "quiz-1", matched, {"grade_points": 19})
        assert newest.ok
        # An older failed grade for `matched` turns up later (imported from the app's own log).
        old = {"kind": "submission_update", "district_id": canvas, "section_id": section["id"],
               "assignment_key": "quiz-1", "student_id": matched, "payload": {"grade_points": 3},
               "created_at": "2026-01-01T00:00:00Z",
               "attempts": [{"at": "2026-01-01T00:00:01Z", "status": 503, "message": ""}]}  # fmt: skip
        (tmp_path / "old.jsonl").write_text(json.dumps(old) + "\n")
        stale_id = import_jsonl(lab.db_path, tmp_path / "old.jsonl").push_ids[0]

        lab.sandbox.set_user_matched(unmatched, True)
        report = retry_pushes(client, lab.db_path, [g.push_id for g in grades] + [stale_id])
    items = _by_id(report)
    assert [items[g.push_id].outcome for g in grades] == ["superseded", "superseded", "sent"]
    assert f"push #{grades[2].push_id}" in items[grades[0].push_id].reason
    assert items[stale_id].outcome == "superseded"
    writes = [w for w in lab.writes("submission.update") if w["assignment_id"] == assignment]
    assert [(w["user_id"], w["body"]["grade_points"]) for w in writes] == [(matched, 19), (unmatched, 14)]
    assert lab.sandbox.submission(section["id"], assignment, matched)["grade_points"] == 19


def test_a_create_with_unknown_outcome_is_never_resent_blindly(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    student = lab.students(section)[0]
    with lab.client(write_timeout=0.3) as client:
        pusher = lab.pusher(client)
        lab.sandbox.inject("/assignments", delay_s=0.8, count=1, method="POST")
        unknown = pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
        grade = pusher.push_grade(canvas, section["id"], "quiz-1", student, GRADE)
        assert (unknown.state, grade.category) == ("unknown", Category.ASSIGNMENT_NOT_CREATED)

        report = _by_id(retry_pushes(client, lab.db_path, all_failed=True))
        assert report[unknown.push_id].outcome == "unknown"
        assert "lmsdata pushes resolve" in report[unknown.push_id].reason
        assert report[grade.push_id].outcome == "skipped"
        deadline = time.monotonic() + 5
        while not lab.writes("assignment.create") and time.monotonic() < deadline:
            time.sleep(0.05)  # the sandbox finishes the slow create after the client gave up
        creates = lab.writes("assignment.create")
        assert len(creates) == 1  # it did reach Clever, and the retry did not send it a second time

        with pytest.raises(ResolveError, match="only an assignment create"):
            resolve_unknown(lab.db_path, grade.push_id, assignment_id="x")
        resolve_unknown(lab.db_path, unknown.push_id, assignment_id=creates[0]["assignment_id"], actor="ops")
        after = _by_id(retry_pushes(client, lab.db_path, all_failed=True))
    assert after[grade.push_id].outcome == "sent"
    assert len(lab.writes("assignment.create")) == 1
    assert lab.push_row(unknown.push_id)["state"] == "sent"


def test_retry_cli_prints_a_result_per_push_and_list_filters(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    unmatched = lab.students(section, matched=False)
    with lab.client() as client:
        pusher = lab.pusher(client)
        pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
        failed = [pusher.push_grade(canvas, section["id"], "quiz-1", s, GRADE).push_id for s in unmatched[:2]]
    lab.sandbox.set_user_matched(unmatched[0], True)
    runner = CliRunner()
    env = {"CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET}
    db = ["--db", str(lab.db_path)]

    listed = runner.invoke(cli, ["pushes", "list", "--state", "failed", "--category", "student_not_matched",
                                 "--format", "json", *db], env=env)  # fmt: skip
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert sorted(r["id"] for r in rows) == sorted(failed)
    assert {r["owner"] for r in rows} == {"district"} and all(r["next_step"] for r in rows)
    table = runner.invoke(cli, ["pushes", "list", "--district", canvas, *db], env=env)
    assert "Next steps:" in table.output and "Student not matched in the LMS (owner: district)" in table.output

    usage = runner.invoke(cli, ["retry", *db], env=env)
    assert usage.exit_code == 2 and "--push ID" in usage.output
    result = runner.invoke(cli, ["retry", "--all-failed", "--district", canvas, "--sandbox", lab.url, *db],
                           env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line[:1].isdigit()}
    assert " sent " in lines[str(failed[0])]
    assert " skipped " in lines[str(failed[1])] and "still not matched" in lines[str(failed[1])]
    assert "1 sent, 1 skipped" in result.output
    with connect(lab.db_path) as cache:
        before = data_version(cache)
    runner.invoke(cli, ["retry", "--push", str(failed[1]), "--dry-run", "--sandbox", lab.url, *db], env=env)
    with connect(lab.db_path) as cache:
        assert data_version(cache) > before


def test_revoked_token_is_skipped_until_the_district_reauthorizes(lab: Lab) -> None:
    with lab.client() as client:
        canvas, section, pusher = lab.canvas_quiz(client)
        student = lab.students(section)[0]
        lab.sandbox.revoke_token(canvas)
        grade = pusher.push_grade(canvas, section["id"], "quiz-1", student, GRADE)
        assert grade.category is Category.TOKEN_REVOKED
        blocked = _by_id(retry_pushes(client, lab.db_path, [grade.push_id]))[grade.push_id]
        assert (blocked.outcome, blocked.category) == ("skipped", "token_revoked")
        assert Category.TOKEN_REVOKED.next_step in blocked.reason
        lab.sandbox.restore_token(canvas)
        assert _by_id(retry_pushes(client, lab.db_path, [grade.push_id]))[grade.push_id].outcome == "sent"


def test_resolving_an_unknown_create_as_not_created_lets_it_be_retried(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    with lab.client() as client:
        lab.sandbox.inject("/assignments", drop=True, count=1, method="POST")  # the connection drops
        unknown = lab.pusher(client).create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
    assert unknown.state == "unknown"
    runner, db = CliRunner(), ["--db", str(lab.db_path)]
    usage = runner.invoke(cli, ["pushes", "resolve", str(unknown.push_id), *db])
    assert usage.exit_code == 2 and "--assignment-id UUID or --not-created" in usage.output
    resolved = runner.invoke(cli, ["pushes", "resolve", str(unknown.push_id), "--not-created", *db])
    assert resolved.exit_code == 0 and f"lmsdata retry --push {unknown.push_id}" in resolved.output
    again = runner.invoke(cli, ["pushes", "resolve", str(unknown.push_id), "--not-created", *db])
    assert again.exit_code == 2 and "in state failed" in again.output
    with lab.client() as client:
        item = _by_id(retry_pushes(client, lab.db_path, [unknown.push_id]))[unknown.push_id]
    assert item.outcome == "sent" and len(lab.writes("assignment.create")) == 1
    with connect(lab.db_path) as cache:
        assert audit.entries(cache, action="resolve")[0]["target"] == f"push {unknown.push_id}"


def test_a_run_clever_refuses_is_audited_as_failed(lab: Lab) -> None:
    with lab.client() as client:
        canvas, section, pusher = lab.canvas_quiz(client)
        unmatched = lab.students(section, matched=False)[0]
        pusher.push_grade(canvas, section["id"], "quiz-1", unmatched, GRADE)
    wrong = CleverClient.from_settings(dataclasses.replace(lab.settings, client_secret="not-the-secret"))
    with wrong, pytest.raises(CleverError, match="client id and secret"):
        retry_pushes(wrong, lab.db_path, all_failed=True, actor="tester")
    with connect(lab.db_path) as db:
        entry = audit.entries(db, action="retry")[0]
        assert db.execute("SELECT COUNT(*) FROM pushes WHERE lease_owner IS NOT NULL").fetchone()[0] == 0
    assert entry["outcome"] == "failed" and "stopped early" in entry["detail"]
    assert "not-the-secret" not in entry["detail"]
