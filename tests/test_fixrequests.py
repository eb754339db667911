"""Fix requests against a real SMTP sink and a real cache: the CSV the district gets, its tracking by
real syncs from the loopback sandbox (9 of 14 fixed, a reminder of the 5 left, closed when all are),
and every action, refusals and failed sends included, in the audit log."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmsdata import audit, fixrequests
from lmsdata.access import AccessDenied, Principal, Role
from lmsdata.db import connect
from lmsdata.fixrequests import FixRequestError, item_status, likely_reason
from lmsdata.mail import Mailer, MailSink
from lmsdata.sandbox import Sandbox
from tests.sandbox_fixtures import pull, served

MAIL_FROM = "Acme Math Support <support@acme-math.example>"
HOSTILE = "=cmd|' /C calc'!A0"


# ---------------------------------------------------------------------------------------------
# The verdicts, as tables


@pytest.mark.parametrize(("email", "sis_id", "usual", "lms_account", "code"), [
    (None, "S1", "school.org", None, "no_email"),
    ("   ", "S1", "school.org", None, "no_email"),
    ("ada@gmail.com", "S1", "school.org", None, "other_domain"),
    ("ada@School.ORG", "S1", "school.org", None, "not_found"),  # domains compare without case
    ("ada-no-at-sign", "S1", "school.org", None, "other_domain"),
    ("ada@gmail.com", None, None, None, "no_sis_id"),  # no usual domain known: no domain verdict
    ("ada@school.org", "", "school.org", None, "no_sis_id"),
    ("ada@gmail.com", None, "school.org", None, "other_domain"),  # the first rule that applies wins
    ("ada@school.org", "S1", "school.org", "Ada  LOVELACE", "not_found"),  # same name, other spacing/case
    ("ada@school.org", "S1", "school.org", "Ada Byron", "name_differs"),
    ("ada@school.org", "S1", "school.org", None, "not_found"),  # the LMS name is unknown: no name verdict
])  # fmt: skip
def test_likely_reason(email: str | None, sis_id: str | None, usual: str | None, lms_account: str | None,
                       code: str) -> None:
    reason = likely_reason(email=email, sis_id=sis_id, usual_domain=usual, roster_name="Ada Lovelace",
                           lms_account_name=lms_account)
    assert reason.code == code
    assert reason.text and reason.text[0].isupper() and reason.text.endswith(".")


def test_the_domain_reason_names_both_domains() -> None:
    text = likely_reason(email="ada@gmail.com", sis_id="S1", usual_domain="students.school.org").text
    assert "gmail.com" in text and "students.school.org" in text


@pytest.mark.parametrize(("code", "present", "synced", "launch_failures", "status"), [
    ("not_found", True, 1, None, "fixed"),
    ("no_email", True, 0, None, "open"),
    ("section_not_synced", True, None, None, "open"),  # Clever stopped reporting it: not shown fixed
    ("not_found", False, None, None, "gone"),
    ("other_domain", False, 1, None, "gone"),
    ("not_launched", True, 1, 0, "fixed"),  # no push of theirs is failed for it any more
    ("not_launched", True, 1, 2, "open"),
    ("not_launched", True, 0, 0, "fixed"),  # a match problem is another item's business
    ("not_launched", False, 1, 1, "gone"),
])  # fmt: skip
def test_item_status(code: str, present: bool, synced: int | None, launch_failures: int | None, status: str) -> None:
    assert item_status(code, present, synced, launch_failures) == status


# ---------------------------------------------------------------------------------------------
# A hand-made cache: exactly the rows each test needs


def _user(uid: str, first: str, last: str, email: str | None, sis_id: str | None, synced: int,
          role: str = "student") -> dict[str, Any]:
    return {"id": uid, "district_id": "d-1", "role": role, "first_name": first, "last_name": last, "email": email,
            "sis_id": sis_id, "school_id": "sch-1", "synced_in_lms": synced}


@pytest.fixture
def cache(db_path: Path) -> Path:
    with connect(db_path) as db, db.conn:
        db["districts"].insert({"id": "d-1", "name": "Springfield Unified", "lms_type": "canvas",
                                "lms_state": "success", "contact_name": "Pat Lee",
                                "contact_email": "it@springfield.k12.us"})
        db["districts"].insert({"id": "d-ok", "name": "Shelbyville ISD", "lms_type": "canvas", "lms_state": "success"})
        db["schools"].insert({"id": "sch-1", "district_id": "d-1", "name": "@Springfield High"})
        db["users"].insert_all([
            _user("u-ok1", "Lisa", "Simpson", "lisa@springfield.k12.us", "S1", 1),
            _user("u-ok2", "Milhouse", "Van Houten", "milhouse@springfield.k12.us", "S2", 1),
            _user("u-cmd", HOSTILE, "+SUM(A1)", "bart@springfield.k12.us", "S3", 0),
            _user("u-mail", "Nelson", "Muntz", None, "S4", 0),
            _user("u-dom", "Ralph", "Wiggum", "ralph@gmail.com", "S5", 0),
            _user("u-sis", "Martin", "Prince", "martin@springfield.k12.us", None, 0),
            _user("t-1", "Edna", "Krabappel", "edna@springfield.k12.us", "T1", 0, role="teacher"),
        ])  # fmt: skip
        db["sections"].insert({"id": "sec-1", "district_id": "d-1", "school_id": "sch-1", "name": "-Grade 4",
                               "sis_id": "SEC1", "teacher_id": "t-1", "synced_in_lms": 0})
    return db_path


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


def create(db_path: Path, sink: MailSink, district_id: str = "d-1", **kwargs: Any) -> dict[str, Any]:
    return fixrequests.create(db_path, district_id, actor="pat@partner.example", mailer=Mailer.from_url(sink.url),
                              mail_from=MAIL_FROM, **kwargs)


def attachment(mail: EmailMessage) -> list[dict[str, str]]:
    [part] = list(mail.iter_attachments())
    assert part.get_content_type() == "text/csv"
    return list(csv.DictReader(io.StringIO(part.get_content())))


def body(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def audit_rows(db_path: Path, prefix: str = "fix-request") -> list[tuple[str, str, str | None, str]]:
    with connect(db_path) as db:
        return [(e["actor"], e["action"], e["target"], e["outcome"]) for e in reversed(audit.entries(db))
                if e["action"].startswith(prefix)]


def test_the_request_reaches_the_district_with_the_list_as_a_safe_csv(cache: Path, sink: MailSink) -> None:
    request = create(cache, sink, message="As discussed on the phone **today**.")
    assert (request["state"], request["email"], request["progress"]) == ("open", "it@springfield.k12.us",
                                                                         "0 of 6 fixed")
    [mail] = sink.messages
    assert mail["To"] == "Pat Lee <it@springfield.k12.us>"
    assert mail["X-LMSData-Fix-Request"] == str(request["id"])
    assert mail["Subject"] == "6 items to fix for LMS Connect in Springfield Unified"
    rows = {row["clever_id"]: row for row in attachment(mail)}
    assert set(rows) == {"u-cmd", "u-mail", "u-dom", "u-sis", "t-1", "sec-1"}
    # Unmasked (it is the district's data), but nothing a spreadsheet would run as a formula.
    assert rows["u-cmd"]["name"] == "'" + HOSTILE + " +SUM(A1)"
    assert rows["sec-1"]["name"] == "'-Grade 4"
    assert rows["u-cmd"]["school"] == "'@Springfield High"
    assert rows["u-cmd"]["email"] == "bart@springfield.k12.us"
    assert not [c for row in rows.values() for c in row.values() if c and c[0] in "=+-@"]
    reasons = {uid: row["likely_reason"] for uid, row in rows.items()}
    assert reasons["u-mail"].startswith("No e-mail address in Clever")
    assert "ralph" not in reasons["u-dom"] and "gmail.com" in reasons["u-dom"]
    assert reasons["u-sis"].startswith("No SIS id in Clever")
    assert reasons["u-cmd"].startswith("Not found in the LMS")
    assert rows["sec-1"]["teacher"] == "Edna Krabappel"
    text = body(mail)
    assert text.startswith("Hello Pat,\n\nAs discussed on the phone **today**.\n")  # plain text, as typed
    flat = " ".join(text.split())
    for must in ("- 4 students not matched", "- 1 teacher not matched", "- 1 section not synced",
                 "section -Grade 4 · teacher Edna Krabappel · SIS id SEC1", "fix request #1"):
        assert must in flat
    assert audit_rows(cache) == [("pat@partner.example", "fix-request", "d-1", "ok")]
    with connect(cache) as db:
        [entry] = audit.entries(db, action="fix-request")
    assert json.loads(entry["params"])["items"] == 6


def test_without_a_message_the_default_one_is_sent_and_a_typed_address_wins(cache: Path, sink: MailSink) -> None:
    create(cache, sink, email=" Helpdesk@Springfield.K12.US ")
    [mail] = sink.messages
    assert mail["To"] == "Helpdesk@springfield.k12.us"
    assert body(mail).startswith("Hello,\n\nClever LMS Connect could not match")


def test_names_from_clever_cannot_forge_lines_or_headers(cache: Path, sink: MailSink) -> None:
    with connect(cache) as db:
        db["users"].update("u-mail", {"first_name": "Nelson\n\nBcc: x@y.org\n2. student fake"})
        db["districts"].update("d-1", {"name": "Springfield\r\nBcc: x@y.org"})
    create(cache, sink)
    [mail] = sink.messages
    assert mail["Bcc"] is None
    assert not [line for line in body(mail).splitlines() if line.startswith(("Bcc", "2. student fake"))]


def test_refusals_are_audited_and_change_nothing(cache: Path, sink: MailSink) -> None:
    with pytest.raises(FixRequestError, match="nothing to fix"):
        create(cache, sink, district_id="d-ok")
    with pytest.raises(FixRequestError, match="not a valid e-mail address"):
        create(cache, sink, email="it@")
    with pytest.raises(FixRequestError, match="No district with id 'd-nope'"):
        create(cache, sink, district_id="d-nope")
    first = create(cache, sink)
    with pytest.raises(FixRequestError, match=f"already has an open fix request \\(#{first['id']}"):
        create(cache, sink)
    assert len(sink.messages) == 1
    assert [a[1:] for a in audit_rows(cache)] == [
        ("fix-request", "d-ok", "refused"), ("fix-request", "d-1", "refused"), ("fix-request", "d-nope", "refused"),
        ("fix-request", "d-1", "ok"), ("fix-request", "d-1", "refused"),
    ]  # fmt: skip
    closed = fixrequests.close(cache, first["id"], actor="pat@partner.example")
    assert (closed["state"], closed["close_reason"], closed["closed_by"]) == ("closed", "closed by hand",
                                                                              "pat@partner.example")
    with pytest.raises(FixRequestError, match="is closed"):
        fixrequests.close(cache, first["id"], actor="pat@partner.example")
    assert create(cache, sink)["state"] == "open"  # a new request once the old one is closed


def test_a_viewer_is_refused_by_the_library_and_the_refusal_is_audited(cache: Path, sink: MailSink) -> None:
    viewer = Principal("lee@district.example", Role.VIEWER)
    mailer = Mailer.from_url(sink.url)
    with pytest.raises(AccessDenied):
        fixrequests.create(cache, "d-1", actor=viewer, mailer=mailer)
    request = create(cache, sink)
    with pytest.raises(AccessDenied):
        fixrequests.remind(cache, request["id"], actor=viewer, mailer=mailer)
    with pytest.raises(AccessDenied):
        fixrequests.close(cache, request["id"], actor=viewer)
    assert len(sink.messages) == 1
    assert [row for row in audit_rows(cache) if row[0] == viewer.email] == [
        (viewer.email, "fix-request", "d-1", "refused"), (viewer.email, "fix-request-remind", "d-1", "refused"),
        (viewer.email, "fix-request-close", "d-1", "refused"),
    ]  # fmt: skip
    with connect(cache) as db:
        assert fixrequests.list_requests(db)[0]["state"] == "open"
    operator = Principal("ana@partner.example", Role.OPERATOR)
    assert fixrequests.close(cache, request["id"], actor=operator)["state"] == "closed"


def test_a_refused_send_is_recorded_as_failed_in_the_same_step(cache: Path) -> None:
    with MailSink(refuse="554 5.7.1 Message rejected") as refusing:
        request = create(cache, refusing)
    assert request["state"] == "failed"
    assert "554" in request["error"]
    assert audit_rows(cache) == [("pat@partner.example", "fix-request", "d-1", "failed")]
    with MailSink() as sink:
        assert create(cache, sink)["state"] == "open"  # a failed request does not block a new one


def test_a_send_that_never_reported_back_fails_after_the_grace_period(cache: Path, sink: MailSink) -> None:
    request = create(cache, sink)
    with connect(cache) as db:
        db["fix_requests"].update(request["id"], {"state": "sending"})
        assert fixrequests.refresh(db)["failed"] == 0
        later = datetime.now(UTC) + fixrequests.SENDING_GRACE + timedelta(minutes=1)
        assert fixrequests.refresh(db, now=later)["failed"] == 1
        assert fixrequests.list_requests(db)[0]["error"] == fixrequests.INTERRUPTED
    assert audit_rows(cache)[-1] == ("system", "fix-request-interrupted", "d-1", "ok")


def test_refresh_resolves_fixed_and_departed_items_and_closes_when_none_is_left(cache: Path, sink: MailSink) -> None:
    request = create(cache, sink)
    with connect(cache) as db:
        db["users"].update("u-mail", {"synced_in_lms": 1})
        db["users"].delete("u-dom")  # left the roster: nothing to fix any more
        assert fixrequests.refresh(db) == {"fixed": 1, "gone": 1, "closed": 0, "failed": 0}
        assert fixrequests.refresh(db) == {"fixed": 0, "gone": 0, "closed": 0, "failed": 0}  # idempotent
        [row] = fixrequests.list_requests(db, district_id="d-1")
        assert (row["progress"], row["state"]) == ("2 of 6 fixed", "open")
        db.execute("UPDATE users SET synced_in_lms = 1")
        db.execute("UPDATE sections SET synced_in_lms = 1")
        db.conn.commit()
        assert fixrequests.refresh(db)["closed"] == 1
    done = fixrequests.get(cache, request["id"])
    assert done is not None
    assert (done["state"], done["close_reason"], done["progress"]) == ("closed", "all fixed", "6 of 6 fixed")
    assert {i["object_id"]: i["resolution"] for i in done["item_rows"]}["u-dom"] == "gone"
    assert [a[1] for a in audit_rows(cache)][-3:] == ["fix-request-progress", "fix-request-progress",
                                                      "fix-request-closed"]


def test_schoology_students_who_never_opened_the_app_are_listed_and_tracked(cache: Path, sink: MailSink) -> None:
    with connect(cache) as db, db.conn:  # two of Lisa's grades failed: she never launched the app in Schoology
        for push_id in (1, 2):
            db["pushes"].insert({"id": push_id, "district_id": "d-1", "section_id": "sec-1", "assignment_key": "a1",
                                 "student_id": "u-ok1", "kind": "submission_update", "payload": "{}",
                                 "state": "failed", "category": "schoology_not_launched", "source": "api",
                                 "created_at": "2026-11-30T10:00:00.000Z", "updated_at": "2026-11-30T10:00:00.000Z"})
    request = create(cache, sink)
    rows = {row["clever_id"]: row for row in attachment(sink.messages[0])}
    assert rows["u-ok1"]["likely_reason"].startswith("Has not opened our app from Schoology")
    assert "- 1 student yet to open the app in Schoology" in body(sink.messages[0])
    with connect(cache) as db:
        db.execute("UPDATE pushes SET state = 'sent' WHERE id = 1")
        db.conn.commit()
        assert fixrequests.refresh(db)["fixed"] == 0  # one grade still refused
        db.execute("UPDATE pushes SET state = 'sent' WHERE id = 2")
        db.conn.commit()
        assert fixrequests.refresh(db)["fixed"] == 1
    done = fixrequests.get(cache, request["id"]) or {}
    assert done["progress"] == "1 of 7 fixed"


# ---------------------------------------------------------------------------------------------
# Acceptance: the loopback sandbox's control plane fixes users, real syncs notice


@pytest.fixture
def tiny() -> Iterator[tuple[Sandbox, str]]:
    with served(faults="none") as pair:
        yield pair


def control(url: str, path: str, body: dict[str, Any]) -> None:
    httpx.post(f"{url}/__sandbox/{path}", json=body, timeout=10).raise_for_status()


def test_nine_of_fourteen_fixed_a_reminder_of_the_five_left_then_closed(
    tiny: tuple[Sandbox, str], db_path: Path, sink: MailSink
) -> None:
    sandbox, url = tiny
    district_id = next(d for d in sandbox.district_ids()
                       if len(sandbox.users(d, role="student")) + len(sandbox.users(d, role="teacher")) >= 14)
    people = [u["id"] for role in ("student", "teacher") for u in sandbox.users(district_id, role=role)]
    unmatched, others = people[:14], people[14:]
    for uid in unmatched:
        control(url, f"users/{uid}/matched", {"matched": False})
    for uid in others:
        control(url, f"users/{uid}/matched", {"matched": True})
    for section in sandbox.sections(district_id):
        control(url, f"sections/{section['id']}/synced", {"synced": True})
    pull(url, db_path, district_id, full=True)

    request = create(db_path, sink, district_id=district_id)
    assert (request["state"], request["progress"]) == ("open", "0 of 14 fixed")
    [first] = sink.messages
    assert {row["clever_id"] for row in attachment(first)} == set(unmatched)
    assert first["To"].endswith(f"<{sandbox.district(district_id)['district_contact']['email']}>")

    for uid in unmatched[:9]:  # the district fixes nine in its SIS; Clever matches them
        control(url, f"users/{uid}/matched", {"matched": True})
    pull(url, db_path, district_id)  # incremental, through the Events API
    request = fixrequests.get(db_path, request["id"]) or {}
    assert (request["state"], request["progress"]) == ("open", "9 of 14 fixed")

    reminded = fixrequests.remind(db_path, request["id"], actor="pat@partner.example",
                                  mailer=Mailer.from_url(sink.url), mail_from=MAIL_FROM)
    assert reminded["reminder_error"] is None and reminded["reminders"] == 1
    reminder = sink.messages[-1]
    assert {row["clever_id"] for row in attachment(reminder)} == set(unmatched[9:])
    assert reminder["Subject"].strip().startswith("Reminder: 5 items still to fix for LMS Connect in")
    assert "9 of 14 fixed so far" in " ".join(body(reminder).split())

    for uid in unmatched[9:]:
        control(url, f"users/{uid}/matched", {"matched": True})
    pull(url, db_path, district_id)
    done = fixrequests.get(db_path, request["id"]) or {}
    assert (done["state"], done["progress"], done["close_reason"]) == ("closed", "14 of 14 fixed", "all fixed")
    with pytest.raises(FixRequestError, match="is closed"):
        fixrequests.remind(db_path, request["id"], actor="pat@partner.example", mailer=Mailer.from_url(sink.url))
    assert len(sink.messages) == 2
    assert [a[1] for a in audit_rows(db_path)] == [
        "fix-request", "fix-request-progress", "fix-request-remind", "fix-request-progress", "fix-request-closed",
        "fix-request-remind",  # the refused reminder
    ]  # fmt: skip
