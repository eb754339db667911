"""Bad input at every entry point ends in one clear line, never a traceback, and leaves the cache as it was.

The CLI cases run `lmsdata` in a real subprocess, as an operator would.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lmsdata import audit, inputs
from lmsdata.config import ConfigError, load_settings
from lmsdata.csvsafe import safe_cell
from lmsdata.db import connect
from lmsdata.health import Thresholds
from lmsdata.invitations import InvitationError, invite
from lmsdata.mail import Mailer, MailSink
from lmsdata.pushes import retry_pushes
from tests.push_fixtures import Lab, running_lab


def _cache_dump(path: Path) -> list[str]:
    """Every row of the cache except the audit log (which records refusals by design)."""
    with sqlite3.connect(path) as conn:
        return [line for line in conn.iterdump() if "INSERT INTO \"audit_log\"" not in line]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad-inputs") / "lmsdata.db"
    with connect(path) as db:
        db["districts"].insert({"id": "d-1", "name": "=HYPERLINK(\"http://evil\")", "lms_state": None,
                                "contact_email": "it@d1.example"})  # fmt: skip
    return path


def _lmsdata(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLEVER_", "LMSDATA_", "SMTP_", "MAIL_"))}
    base.update({"LMSDATA_DB": str(cache), **env})
    return subprocess.run([sys.executable, "-m", "lmsdata", *args], env=base, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


CLI_CASES = [
    # (args, environment, words the message must contain)
    (["status"], {"CLEVER_API_URL": "http://[::1"}, ["CLEVER_API_URL", "http(s) URL", "http://[::1"]),
    (["status"], {"CLEVER_API_URL": "https://api.clever.com\r"}, ["CLEVER_API_URL", "line breaks", "\\r"]),
    (["status"], {"CLEVER_API_URL": "https://api.clever.com:99999"}, ["CLEVER_API_URL", ":99999"]),
    (["status"], {"CLEVER_OAUTH_URL": "ftp://clever.com"}, ["CLEVER_OAUTH_URL", "http(s) URL"]),
    (["status"], {"SMTP_URL": "smtp://[bad"}, ["SMTP_URL", "smtp://user:password@host:587"]),
    (["status"], {"SMTP_URL": "smtp://u:hunter2@mail.example:70000"}, ["SMTP_URL", "port from 1 to 65535"]),
    (["status"], {"LMSDATA_INVITATION_EXPIRY_DAYS": "²"}, ["LMSDATA_INVITATION_EXPIRY_DAYS", "whole number of days"]),
    (["status"], {"LMSDATA_INVITATION_EXPIRY_DAYS": "99999999999"}, ["LMSDATA_INVITATION_EXPIRY_DAYS", "1 to 3650"]),
    (["status"], {"LMSDATA_INVITATION_EXPIRY_DAYS": "0"}, ["LMSDATA_INVITATION_EXPIRY_DAYS", "1 to 3650"]),
    (["status"], {"MAIL_FROM": "Acme <a@acme.example>\r\nBcc: all@x"}, ["MAIL_FROM", "no line breaks"]),
    (["status"], {"LMSDATA_MATCH_TARGET": "nan"}, ["LMSDATA_MATCH_TARGET", "0 to 100", "'nan'"]),
    (["status"], {"LMSDATA_STALE_SYNC_HOURS": "1e999"}, ["LMSDATA_STALE_SYNC_HOURS", "hours from 0 to 8760"]),
    (["status"], {"LMSDATA_STUCK_SETUP_DAYS": "inf"}, ["LMSDATA_STUCK_SETUP_DAYS", "days from 0 to 365"]),
    (["status"], {"LMSDATA_FAILED_PUSHES_ALERT": "99999999999"}, ["LMSDATA_FAILED_PUSHES_ALERT", "1000000"]),
    (["status"], {"LMSDATA_MATCH_DROP_POINTS": "1e308"}, ["LMSDATA_MATCH_DROP_POINTS", "0 to 100"]),
    (["sync", "--sandbox", "not-a-url"], {}, ["--sandbox", "http(s) URL", "not-a-url"]),
    (["sync", "--sandbox", "http://127.0.0.1:99999"], {}, ["--sandbox", "127.0.0.1:99999"]),
    (["retry", "--push", "99999999999999999999999", "--sandbox", "http://127.0.0.1:1"], {}, ["--push", "range"]),
    (["pushes", "resolve", "0", "--not-created"], {}, ["PUSH_ID", "range"]),
    (["invitations", "cancel", "99999999999999999999999"], {}, ["INVITATION_ID", "range"]),
]


@pytest.mark.parametrize(("args", "env", "words"), CLI_CASES, ids=[" ".join(c[0]) + str(c[1]) for c in CLI_CASES])
def test_cli_names_what_is_wrong_without_a_traceback(
    cache: Path, args: list[str], env: dict[str, str], words: list[str]
) -> None:
    before = _cache_dump(cache)
    result = _lmsdata(args, cache, **env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    error = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(error) == 1, output
    for word in words:
        assert word in error[0], error[0]
    assert "hunter2" not in output
    assert _cache_dump(cache) == before


def test_a_cache_path_under_a_regular_file_is_named_by_sync_and_status(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    for args in (["sync", "--sandbox", "http://127.0.0.1:1"], ["status"], ["pushes", "list"], ["audit"]):
        result = _lmsdata([*args, "--db", str(blocker / "lmsdata.db")], tmp_path)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 2
        assert f"is inside {blocker}, which is a file, not a folder" in result.stderr, (args, result.stderr)
    assert blocker.read_text() == "keep me"


def test_a_port_out_of_range_is_not_reported_as_connection_refused() -> None:
    with pytest.raises(ConfigError, match="CLEVER_API_URL must be an http") as caught:
        load_settings(env={"CLEVER_API_URL": "http://127.0.0.1:99999"})
    assert "refused" not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# pushes import: every bad line reported by number and reason, every good line kept

D, S = "d1", "s1"


def _push(student: str, payload: str = '{"grade_points": 18}') -> str:
    return (f'{{"kind": "submission_update", "district_id": "{D}", "section_id": "{S}", "assignment_key": "q1", '
            f'"student_id": "{student}", "payload": {payload}, "created_at": "2026-11-20T10:00:00Z"}}')  # fmt: skip


IMPORT_LINES = [
    (_push("u1"), None),
    (_push("u2", '{"grade_points": NaN}'), "NaN is not a number JSON allows; grades must be finite numbers"),
    (_push("u3", '{"grade_points": Infinity}'), "Infinity is not a number JSON allows"),
    (_push("u4", '{"grade_points": -1e999}'), "-1e999 is too large to be a finite number"),
    ("[" * 200_000, "nested too deeply"),
    ('{"kind": ' + "9" * 5000 + "}", "a whole number of 5000 digits is too long"),
    (_push("\\ud800"), "$.student_id: a lone surrogate escape"),
    (_push("u5", '{"grade_points": 17, "comment": "\\udfff"}'), "$.payload.comment: a lone surrogate"),
    ('{"kind": "submission_update"', "not valid JSON"),
    (_push("u6", '{"grade_points": 1.5e3}'), None),
    (_push("u7"), None),
]


def test_import_reports_each_bad_line_and_keeps_every_good_one(tmp_path: Path) -> None:
    source = tmp_path / "log.jsonl"
    source.write_text("\n".join(line for line, _ in IMPORT_LINES) + "\n")
    db_path = tmp_path / "cache.db"
    result = _lmsdata(["pushes", "import", str(source), "--db", str(db_path)], tmp_path)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 1
    expected_bad = [(n, why) for n, (_, why) in enumerate(IMPORT_LINES, start=1) if why]
    assert f"Imported {len(IMPORT_LINES) - len(expected_bad)} push(es)" in result.stdout
    reported = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("line ")]
    assert len(reported) == len(expected_bad), result.stdout
    for (number, why), line in zip(expected_bad, reported, strict=True):
        assert line.startswith(f"line {number}: ") and why in line, line
        assert len(line) < 200, line
    with connect(db_path) as db:
        students = [r["student_id"] for r in db.query("SELECT student_id FROM pushes ORDER BY id")]
        assert students == ["u1", "u6", "u7"]
        entry = audit.entries(db)[0]
    assert (entry["action"], entry["outcome"]) == ("import", "partial")


def test_the_library_refuses_a_non_finite_grade_before_logging_it(tmp_path: Path) -> None:
    from lmsdata.pushes import log

    refused = pytest.raises(inputs.InputError, match=r"payload.grade_points must be a finite number")
    with connect(tmp_path / "c.db") as db, refused:
        log.insert_push(db, log.NewPush(D, S, "q1", "submission_update", {"grade_points": float("nan")}, "u1"),
                        source="api")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# retry: a NaN grade already in a cache (imported before this check existed) is skipped, not a crash


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("nan-retry")) as lab:
        yield lab


def test_retry_all_failed_skips_a_nan_grade_in_the_cache_with_its_reason(lab: Lab) -> None:
    with lab.client() as client:
        canvas, section, _ = lab.canvas_quiz(client)
        with connect(lab.db_path) as db:
            db.execute(
                "INSERT INTO pushes (district_id, section_id, assignment_key, student_id, kind, payload, state, "
                "source, created_at, updated_at) VALUES (?, ?, 'quiz-1', 'u-nan', 'submission_update', "
                "'{\"grade_points\": NaN}', 'failed', 'import', ?, ?)",
                [canvas, section["id"], "2026-11-20T10:00:00.000Z", "2026-11-20T10:00:00.000Z"],
            )
            db.conn.commit()
            nan_id = db.execute("SELECT id FROM pushes WHERE student_id = 'u-nan'").fetchone()[0]
        writes_before = len(lab.writes())
        report = retry_pushes(client, lab.db_path, all_failed=True)
    item = next(i for i in report.items if i.push_id == nan_id)
    assert item.outcome == "skipped"
    assert "payload.grade_points is not a finite number" in item.reason
    assert report.interrupted is None
    assert len(lab.writes()) == writes_before
    with connect(lab.db_path) as db:
        assert db.execute("SELECT state, payload FROM pushes WHERE id = ?", [nan_id]).fetchone() == (
            "failed", '{"grade_points": NaN}',
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# invitations: a MAIL_FROM with a line break is refused and audited; later invitations still go out


def _one_district(tmp_path: Path, name: str) -> Path:
    db_path = tmp_path / "c.db"
    with connect(db_path) as db:
        db["districts"].insert({"id": "d-1", "name": name, "lms_state": None, "contact_email": "it@d1.example"})
    return db_path


def test_a_mail_from_with_a_line_break_is_refused_audited_and_blocks_nothing(tmp_path: Path) -> None:
    db_path = _one_district(tmp_path, "Springfield")
    with MailSink() as sink:
        mailer = Mailer.from_url(sink.url)
        with pytest.raises(InvitationError, match="MAIL_FROM must be one line of text"):
            invite(db_path, "d-1", actor="system", mailer=mailer, mail_from="Acme <a@acme.example>\r\nBcc: x@evil")
        sent = invite(db_path, "d-1", actor="system", mailer=mailer, mail_from="Acme <a@acme.example>",
                      now=datetime.now(UTC))  # fmt: skip
        assert sent["state"] == "sent"
        assert len(sink.messages) == 1 and "Bcc" not in sink.messages[0]
    with connect(db_path) as db:
        assert [r["state"] for r in db.query("SELECT state FROM invitations")] == ["sent"]
        entries = audit.entries(db)
    assert [(e["action"], e["outcome"]) for e in entries] == [("invite", "ok"), ("invite", "refused")]
    assert "MAIL_FROM" in entries[1]["detail"]


# ---------------------------------------------------------------------------------------------
# the library checks themselves, as a table


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: inputs.whole_number("N", "٣", low=1, high=9), "N must be a whole number from 1 to 9, got '٣'"),
        (lambda: inputs.whole_number("N", True, low=0, high=9), "N must be a whole number from 0 to 9, got True"),
        (lambda: inputs.number("X", "nan", low=0, high=1), "X must be a number from 0 to 1, got 'nan'"),
        (lambda: inputs.number("X", "1" * 400, low=0, high=1), "characters)"),
        (lambda: inputs.http_url("U", "http://exa mple.com"), "U must be an http(s) URL"),
        (lambda: inputs.http_url("U", "http://:80"), "U must be an http(s) URL"),
        (lambda: inputs.http_url("U", "http://h:0"), "port 1-65535"),
        (lambda: inputs.header_text("H", "a\nb"), "H must be one line of text"),
        (lambda: Thresholds(match_target=float("inf")), "LMSDATA_MATCH_TARGET must be a number"),
    ],
)
def test_input_checks_name_the_input_and_what_is_expected(check: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check()  # type: ignore[operator]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# CSV: a cell that would start a spreadsheet formula is written as text


def test_status_csv_neutralises_formula_cells(cache: Path) -> None:
    result = _lmsdata(["status", "--format", "csv"], cache)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["name"] == "'=HYPERLINK(\"http://evil\")"


@pytest.mark.parametrize(
    ("value", "written"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("plain", "plain"), ("", ""), (-1, -1), (2.5, 2.5), (None, None)],
)
def test_safe_cell_follows_owasp(value: object, written: object) -> None:
    assert safe_cell(value) == written


def test_invitations_csv_neutralises_a_formula_district_name(tmp_path: Path) -> None:
    db_path = _one_district(tmp_path, "@cmd|' /C calc'!A0")
    with MailSink() as sink:
        invite(db_path, "d-1", actor="-system", mailer=Mailer.from_url(sink.url))
    result = _lmsdata(["invitations", "--format", "csv"], tmp_path, LMSDATA_DB=str(db_path))
    assert result.returncode == 0, result.stderr
    row = next(iter(csv.DictReader(io.StringIO(result.stdout))))
    assert (row["district_name"], row["actor"]) == ("'@cmd|' /C calc'!A0", "'-system")
