"""`lmsdata pushes import`: every line validated, bad lines reported by number, the rest imported."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lmsdata import audit
from lmsdata.cli import cli
from lmsdata.db import connect, data_version
from lmsdata.pushes import list_pushes
from lmsdata.pushes.importer import import_jsonl
from lmsdata.pushes.log import live_assignment_id

D, S, U = "d1", "s1", "u1"


def _line(**fields: object) -> str:
    base: dict[str, object] = {
        "kind": "submission_update", "district_id": D, "section_id": S, "assignment_key": "quiz-1",
        "student_id": U, "payload": {"grade_points": 18}, "created_at": "2026-11-20T10:00:00Z",
    }  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


GOOD_AND_BAD = [
    _line(kind="assignment_create", student_id=None, payload={"title": "Quiz 1", "description": "d",
          "due_date": "2026-12-01T00:00:00Z"}, assignment_id="a-uuid-1",
          attempts=[{"at": "2026-11-20T09:00:00Z", "status": 200}]),                            # 1 sent create
    _line(attempts=[{"at": "2026-11-20T10:00:01Z", "status": 404, "message": "User not found"}]),  # 2 failed
    "{not json",                                                                                # 3
    _line(section_id=None),                                                                     # 4 missing
    "",                                                                                         # 5 blank: ignored
    _line(kind="grade"),                                                                        # 6 bad kind
    _line(student_id=None),                                                                     # 7 no student
    _line(created_at="yesterday"),                                                              # 8 bad time
    _line(payload={}),                                                                          # 9 empty payload
    _line(attempts=[{"at": "2026-11-20T10:00:01Z", "status": 999}]),                            # 10 bad status
    _line(studentid="x"),                                                                       # 11 typo field
    _line(created_at="2026-11-21T08:00:00Z", payload={"grade_points": 19},
          attempts=[{"at": "2026-11-21T08:00:01Z", "status": 503, "message": ""}]),             # 12 newer, failed
    "[1, 2]",                                                                                   # 13 not object
    _line(kind="assignment_create", student_id=None, created_at="2026-11-22T08:00:00Z",
          assignment_key="quiz-2", payload={"title": "Quiz 2"},
          attempts=[{"at": "2026-11-22T08:00:00Z", "status": None, "message": "timed out"}]),  # 14 unknown
]  # fmt: skip


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "pushes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_reports_bad_lines_by_number_and_imports_the_rest(tmp_path: Path, db_path: Path) -> None:
    path = _write(tmp_path, GOOD_AND_BAD)
    report = import_jsonl(db_path, path, actor="tester")

    assert report.imported == 4
    bad = dict(report.errors)
    assert sorted(bad) == [3, 4, 6, 7, 8, 9, 10, 11, 13]
    assert "not valid JSON" in bad[3]
    assert bad[4] == "missing field(s): section_id"
    assert "kind must be one of" in bad[6] and "'grade'" in bad[6]
    assert "needs student_id" in bad[7]
    assert "'yesterday'" in bad[8]
    assert "payload must be a non-empty JSON object" in bad[9]
    assert "attempts[0].status must be an HTTP status" in bad[10]
    assert "unknown field(s) studentid" in bad[11]
    assert "one JSON object" in bad[13]

    with connect(db_path) as db:
        rows = {(r["assignment_key"], r["kind"], r["created_at"]): r for r in list_pushes(db)}
        by_state = sorted((r["kind"], r["state"], r["category"]) for r in rows.values())
        assert by_state == [
            ("assignment_create", "sent", None),
            ("assignment_create", "unknown", "outcome_unknown"),
            ("submission_update", "failed", "transient"),          # the newer grade is the one to retry
            ("submission_update", "superseded", None),              # the older failed grade is replaced
        ]
        assert live_assignment_id(db, D, S, "quiz-1") == "a-uuid-1"
        older = next(r for r in rows.values() if r["state"] == "superseded")
        newer = next(r for r in rows.values() if r["kind"] == "submission_update" and r["state"] == "failed")
        assert older["superseded_by"] == newer["id"]
        attempts = list(db.query("SELECT * FROM push_attempts WHERE push_id = ?", [newer["id"]]))
        assert [(a["http_status"], a["trigger"], a["started_at"]) for a in attempts] == [
            (503, "import", "2026-11-21T08:00:01.000Z")
        ]
        entry = audit.entries(db, action="import")[0]
        assert entry["actor"] == "tester" and entry["outcome"] == "partial"
        assert json.loads(entry["params"]) == {"imported": 4, "duplicates": 0, "bad_lines": 9}
        version = data_version(db)

    again = import_jsonl(db_path, path)
    assert (again.imported, again.duplicates) == (0, 4)
    with connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM pushes").fetchone()[0] == 4
        assert data_version(db) > version


def test_import_cli_prints_line_numbers_and_exits_non_zero(tmp_path: Path, db_path: Path) -> None:
    path = _write(tmp_path, [_line(), "{oops", _line(kind="nope")])
    result = CliRunner().invoke(cli, ["pushes", "import", str(path), "--db", str(db_path)])
    assert result.exit_code == 1, result.output
    assert "Imported 1 push" in result.output
    assert "line 2: not valid JSON" in result.output
    assert "line 3: kind must be one of" in result.output


def test_import_of_a_missing_file_is_a_clear_error(tmp_path: Path, db_path: Path) -> None:
    result = CliRunner().invoke(cli, ["pushes", "import", str(tmp_path / "nope.jsonl"), "--db", str(db_path)])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output and "does not exist" in result.output
