"""Pushes search (issue 12): every state, across districts, by student, teacher, section, assignment or
day, each result with its attempts and readiness now; every lookup an index seek."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.pushes.search import Query, SearchError, matching_ids, search


def fill(db_path: Path) -> None:
    with connect(db_path) as db, db.conn:
        db.execute("INSERT INTO districts (id, name, lms_state) VALUES ('d1', 'One', 'success'), "
                   "('d2', 'Two', 'matching_in_progress')")
        db.execute("""INSERT INTO users (id, district_id, role, first_name, last_name, email, sis_id, synced_in_lms)
                      VALUES ('s-ada', 'd1', 'student', 'Ada', 'Lovelace', 'ada@one.example', 'SIS-1', 1),
                             ('s-alan', 'd2', 'student', 'Alan', 'Turing', 'alan@two.example', 'SIS-2', 1),
                             ('s-ann', 'd2', 'student', 'Ann', 'Lovelace', 'ann@two.example', 'SIS-3', 0),
                             ('t-grace', 'd1', 'teacher', 'Grace', 'Hopper', 'grace@one.example', 'T-1', 1)""")
        db.execute("""INSERT INTO sections (id, district_id, name, sis_id, teacher_id, synced_in_lms)
                      VALUES ('sec-1', 'd1', 'Algebra P3', 'SEC-SIS-1', 't-grace', 1),
                             ('sec-2', 'd2', 'Biology', 'SEC-SIS-2', NULL, 1)""")
        db.execute("INSERT INTO section_users (section_id, user_id, role, district_id) VALUES "
                   "('sec-1', 's-ada', 'student', 'd1'), ('sec-2', 's-alan', 'student', 'd2'), "
                   "('sec-2', 's-ann', 'student', 'd2')")
        db.execute("INSERT INTO assignments (district_id, section_id, assignment_key, assignment_id, title) VALUES "
                   "('d1', 'sec-1', 'quiz-1', 'uuid-quiz-1', 'Quiz One'), "
                   "('d2', 'sec-2', 'lab-1', 'uuid-lab-1', 'Lab One')")
        rows = [  # id, district, section, key, student, state, created
            (1, "d1", "sec-1", "quiz-1", "s-ada", "sent", "2026-03-01T09:00:00.000Z"),
            (2, "d1", "sec-1", "quiz-1", "s-ada", "failed", "2026-03-02T09:00:00.000Z"),
            (3, "d2", "sec-2", "lab-1", "s-alan", "superseded", "2026-03-02T10:00:00.000Z"),
            (4, "d2", "sec-2", "lab-1", "s-ann", "unknown", "2026-03-03T10:00:00.000Z"),
            (5, "d2", "sec-2", "lab-1", "s-gone", "pending", "2026-03-04T10:00:00.000Z"),
        ]
        for pid, did, sec, key, student, state, at in rows:
            db.execute("INSERT INTO pushes (id, district_id, section_id, assignment_key, student_id, kind, payload, "
                       "state, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'submission_update', '{}', ?, "
                       "'api', ?, ?)", [pid, did, sec, key, student, state, at, at])
        db.execute("INSERT INTO push_attempts (push_id, started_at, http_status, message, outcome, trigger) VALUES "
                   "(1, '2026-03-01T09:00:01.000Z', 503, 'Service Unavailable', 'failed', 'first'), "
                   "(1, '2026-03-01T09:05:00.000Z', 200, NULL, 'sent', 'auto'), "
                   "(2, '2026-03-02T09:00:01.000Z', 404, 'User not found', 'failed', 'first')")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Query("s-ada", "student"), [2, 1]),  # Clever id; sent ones too, newest first
        (Query("ADA@one.example", "student"), [2, 1]),  # e-mail, any case
        (Query("SIS-2", "student"), [3]),  # SIS id
        (Query("lovelace", "student"), [4, 2, 1]),  # a last name: every student with it, across districts
        (Query("ada lovelace", "student"), [2, 1]),  # first and last
        (Query("s-gone", "student"), [5]),  # a Clever id the cache no longer knows
        (Query("Grace Hopper", "teacher"), [2, 1]),  # the pushes of her sections
        (Query("grace@one.example", "teacher"), [2, 1]),
        (Query("Grace Hopper", "student"), []),  # she teaches; no push is to her
        (Query("sec-2", "section"), [5, 4, 3]),
        (Query("algebra p3", "section"), [2, 1]),
        (Query("SEC-SIS-2", "section"), [5, 4, 3]),
        (Query("quiz-1", "assignment"), [2, 1]),  # our assignment key
        (Query("uuid-lab-1", "assignment"), [5, 4, 3]),  # Clever's assignment id
        (Query("lab one", "assignment"), [5, 4, 3]),  # its title
        (Query("lovelace"), [4, 2, 1]),  # "any": each kind
        (Query("sec-1"), [2, 1]),
        (Query(since=date(2026, 3, 2), until=date(2026, 3, 3)), [4, 3, 2]),  # by day, both ends included
        (Query("lovelace", since=date(2026, 3, 2)), [4, 2]),
        (Query("lovelace", states=("sent", "unknown")), [4, 1]),
        (Query("lovelace", district_ids=("d1",)), [2, 1]),
        (Query("Lovelac", "student"), []),  # exact, not a substring: every lookup is an index seek
    ],
)
def test_search_finds(db_path: Path, query: Query, expected: list[int]) -> None:
    fill(db_path)
    with connect(db_path) as db:
        assert matching_ids(db, query) == expected


def test_each_result_has_its_attempts_and_readiness_now(db_path: Path) -> None:
    fill(db_path)
    with connect(db_path) as db:
        found = search(db, Query("lovelace")).set_index("id")
    assert [a["outcome"] for a in found.loc[1, "attempts_list"]] == ["failed", "sent"]
    assert [a["http_status"] for a in found.loc[2, "attempts_list"]] == [404]
    assert found.loc[4, "attempts_list"] == []
    assert found.loc[1, "state"] == "sent" and found.loc[1, "student"] == "Ada Lovelace"
    assert found.loc[2, "ready"] == 1  # d1 is connected, her section synced, she matched
    assert found.loc[4, "ready"] == 0 and "matching_in_progress" in found.loc[4, "ready_reason"]


@pytest.mark.parametrize(
    ("query", "message"),
    [(Query(), "Give something to look for"), (Query("x", "colour"), "Search by one of"),
     (Query("x", states=("lost",)), "A push state is one of")],
)
def test_a_search_that_cannot_run_says_why(db_path: Path, query: Query, message: str) -> None:
    with connect(db_path) as db, pytest.raises(SearchError, match=message):
        matching_ids(db, query)


def test_no_lookup_scans_users_sections_or_pushes(db_path: Path) -> None:
    """Indexed (m010_push_search): SQLite's plan for each kind of search seeks, never scans a big table."""
    fill(db_path)
    with connect(db_path) as db:
        for by in ("student", "teacher", "section", "assignment", "any"):
            captured: list[str] = []
            db.conn.set_trace_callback(captured.append)
            matching_ids(db, Query("lovelace", by))
            db.conn.set_trace_callback(None)
            sql = next(s for s in captured if s.lstrip().startswith("SELECT p.id FROM pushes p"))
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
            assert not [step for step in plan if step.startswith("SCAN ")], (by, plan)


def test_cli_search_prints_json_with_attempts(db_path: Path) -> None:
    fill(db_path)
    result = CliRunner().invoke(cli, ["pushes", "search", "Lovelace", "--by", "student", "--format", "json",
                                      "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [4, 2, 1]
    assert rows[2]["student"] == "A. L." and "Lovelace" not in result.output  # masked, as on the pages
    assert [a["outcome"] for a in rows[2]["attempts"]] == ["failed", "sent"]
    assert rows[1]["ready"] == 1
    table = CliRunner().invoke(cli, ["pushes", "search", "--since", "2026-03-04", "--db", str(db_path)])
    assert table.exit_code == 0 and "s-gone" in table.output
    bad = CliRunner().invoke(cli, ["pushes", "search", "--db", str(db_path)])
    assert bad.exit_code == 2 and "Give something to look for" in bad.output
