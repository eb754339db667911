"""The Gradebook page and the District page's reconcile summary (AppTest over a hand-built cache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmsdata.db import connect
from tests import test_pages as pages
from tests.test_pages import open_page, table, texts
from tests.ui_fixtures import at as ago
from tests.ui_fixtures import build_cache

ROW = {"district_id": "d-healthy", "section_id": "s-ok", "assignment_key": "quiz-1", "assignment_id": "a1",
       "our_grade": json.dumps({"grade": None, "grade_points": 15}), "checked_at": ago(minutes=3)}


@pytest.fixture
def gradebook_cache(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = build_cache(db_path)
    pages._real_mode(monkeypatch, path)
    with connect(path) as db, db.conn:
        db.table("users").insert({"id": "t-1", "district_id": "d-healthy", "role": "teacher", "first_name": "Rosa",
                                  "last_name": "Teach"})  # fmt: skip
        db.table("gradebook_rows").insert_all([
            {**ROW, "student_id": "u-ok", "push_id": 1, "state": "override", "lms_grade_points": 18,
             "lms_grader_id": "t-1", "lms_last_modified": ago(minutes=30)},
            {**ROW, "student_id": "u-2", "push_id": 2, "state": "landed", "lms_grade_points": 15},
        ])  # fmt: skip
        db.table("gradebook_sections").insert({"district_id": "d-healthy", "section_id": "s-ok",
                                               "reconciled_at": ago(minutes=3), "requests": 1})  # fmt: skip
    return path


def test_gradebook_counts_student_rows_masked_lms_value_beside_ours_and_who_changed_it(gradebook_cache: Path) -> None:
    at = open_page("gradebook")
    counts = table(at, 0)
    assert list(counts["Teacher override"]) == [1] and list(counts["Landed"]) == [1]
    students = table(at, 1)
    row = students.iloc[0]
    assert row["state"] == "override" and row["lms_value"] == "18.0" and row["changed_by"] == "Rosa Teach"
    assert "Lovelace" not in " ".join(students["student"].astype(str))  # masked until revealed
    assert any(b.label == "Overwrite anyway" for b in at.button)
    assert at.get("download_button")


def test_district_page_shows_the_reconcile_summary_and_its_age(gradebook_cache: Path) -> None:
    at = open_page("district", district="d-healthy")
    assert "Read back from the LMS" in texts(at)
    assert {m.label: m.value for m in at.metric}["Teacher override"] == "1"


def test_gradebook_district_and_states_live_in_the_url(gradebook_cache: Path) -> None:
    at = open_page("gradebook")
    at.selectbox(key="gradebook_district").set_value("d-healthy").run()
    at.multiselect(key="gradebook_states").set_value(["landed"]).run()
    again = pages.reopen(at, "gradebook")
    assert again.selectbox(key="gradebook_district").value == "d-healthy"
    assert again.multiselect(key="gradebook_states").value == ["landed"]
    assert list(table(again, 1)["state"]) == list(table(at, 1)["state"]) == ["landed"]


def test_a_large_read_back_lists_its_first_rows_and_says_so(gradebook_cache: Path) -> None:
    """One row per pushed grade can be a million: the page lists the first 1,000 of each list and says so,
    and the suspected duplicates come from what the sync stored (identity_suspects)."""
    from lmsdata.gradebook.identity import refresh_suspects
    from lmsdata.ui.gradebook import SHOWN_ROWS

    with connect(gradebook_cache) as db, db.conn:
        db.table("gradebook_rows").insert_all(
            {**ROW, "assignment_key": f"quiz-{n:04d}", "student_id": f"u-{n}", "push_id": 1000 + n, "state": "missing"}
            for n in range(SHOWN_ROWS + 5))  # fmt: skip
        db.execute("UPDATE users SET sis_id = 'S100' WHERE id = 'u-teach'")  # shares Ada's SIS id
        db.execute("UPDATE users SET district_id = 'd-healthy' WHERE id = 'u-teach'")
        refresh_suspects(db, "d-healthy")
    at = open_page("gradebook")
    assert len(table(at, 0)) == SHOWN_ROWS and len(table(at, 1)) == SHOWN_ROWS
    shown = texts(at)
    assert f"More than {SHOWN_ROWS:,} assignments" in shown and f"More than {SHOWN_ROWS:,} student rows" in shown
    assert list(table(at, 2).rename(columns=str.lower)["users"]) == ["u-ok, u-teach"]


def test_retrying_the_missing_grades_queues_one_job_for_the_worker(gradebook_cache: Path) -> None:
    """Several grades are a bulk retry: it runs in the worker, followed in the Jobs panel, not in the page."""
    with connect(gradebook_cache) as db, db.conn:
        db.table("gradebook_rows").insert_all([
            {**ROW, "district_id": "d-below", "section_id": "s-un", "student_id": "u-un1", "push_id": 1,
             "state": "missing"},
            {**ROW, "district_id": "d-below", "section_id": "s-un", "student_id": "u-un2", "push_id": 4,
             "state": "missing"},
        ])  # fmt: skip
    at = open_page("gradebook")
    at.button(key="gradebook_retry").click().run()
    assert not at.exception
    with connect(gradebook_cache) as db:
        jobs = list(db.query("SELECT id, kind, params FROM queued_jobs"))
        retried = db.execute("SELECT COUNT(*) FROM push_attempts WHERE trigger = 'retry'").fetchone()[0]
    assert [(j["kind"], sorted(json.loads(j["params"])["push_ids"])) for j in jobs] == [("bulk_retry", [1, 4])]
    assert retried == 0  # nothing sent from the page's thread
    assert f"queued as job #{jobs[0]['id']}" in texts(at)
