"""The acting library functions check the signed-in role themselves: a viewer calling them directly
changes nothing, reaches neither Clever nor the mail server, and leaves a "refused" audit row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmsdata import audit
from lmsdata.access import AccessDenied, Principal, Role
from lmsdata.db import connect
from lmsdata.invitations import cancel, invite, resend
from lmsdata.mail import Mailer, MailSink
from lmsdata.pushes import retry_pushes
from lmsdata.sync import sync
from tests.push_fixtures import ASSIGNMENT, Lab, running_lab

VIEWER = Principal("lee@district-support.example", Role.VIEWER, "Lee")
OPERATOR = Principal("ana@partner.example", Role.OPERATOR, "Ana")
GRADE = {"grade_points": 15, "state": "returned"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("access")) as lab:
        yield lab


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


def _last_audit(db_path: Path, action: str) -> dict[str, Any]:
    with connect(db_path) as db:
        return audit.entries(db, action=action, limit=1)[0]


def _count(db_path: Path, sql: str) -> int:
    with connect(db_path) as db:
        return int(db.execute(sql).fetchone()[0])


def test_a_viewer_cannot_retry_pushes_and_an_operator_can(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    unmatched = lab.students(section, matched=False)[0]
    with lab.client() as client:
        pusher = lab.pusher(client)
        assert pusher.create_assignment(canvas, section["id"], "quiz-access", ASSIGNMENT).ok
        failed = pusher.push_grade(canvas, section["id"], "quiz-access", unmatched, GRADE)
        assert failed.state == "failed"
        lab.sandbox.set_user_matched(unmatched, True)
        before = lab.push_row(failed.push_id)
        requests, writes = client.requests_made, len(lab.writes())

        with pytest.raises(AccessDenied, match=r"lee@district-support\.example is a viewer and may not retry"):
            retry_pushes(client, lab.db_path, [failed.push_id], actor=VIEWER)
        assert (client.requests_made, len(lab.writes())) == (requests, writes)
        assert lab.push_row(failed.push_id) == before
        refused = _last_audit(lab.db_path, "retry")
        assert (refused["actor"], refused["outcome"], refused["target"]) == (VIEWER.email, "refused", "1 push(es)")
        assert "ask an admin for the operator role" in refused["detail"]
        assert json.loads(refused["params"])["push_ids"] == [failed.push_id]

        report = retry_pushes(client, lab.db_path, [failed.push_id], actor=OPERATOR)
    assert [(item.outcome, item.reason) for item in report.items] == [("sent", "sent")]
    done = _last_audit(lab.db_path, "retry")
    assert (done["actor"], done["outcome"]) == (OPERATOR.email, "ok")


def test_a_viewer_cannot_run_a_sync_and_an_operator_can(lab: Lab) -> None:
    runs = _count(lab.db_path, "SELECT COUNT(*) FROM sync_runs")
    with lab.client() as client:
        with pytest.raises(AccessDenied, match="may not run a sync"):
            sync(client, lab.db_path, district_ids=[lab.district()], actor=VIEWER)
        assert client.requests_made == 0  # not even the token listing
        assert _count(lab.db_path, "SELECT COUNT(*) FROM sync_runs") == runs
        refused = _last_audit(lab.db_path, "sync")
        assert (refused["actor"], refused["outcome"], refused["target"]) == (VIEWER.email, "refused", lab.district())

        result = sync(client, lab.db_path, district_ids=[lab.district()], actor=OPERATOR)
    assert result.failed == {}
    with connect(lab.db_path) as db:
        assert db.execute("SELECT actor FROM sync_runs ORDER BY id DESC").fetchone()[0] == OPERATOR.email
    assert _last_audit(lab.db_path, "sync")["actor"] == OPERATOR.email


def test_a_viewer_cannot_send_resend_or_cancel_invitations(db_path: Path, sink: MailSink) -> None:
    with connect(db_path) as db:
        db["districts"].insert({"id": "d-new", "name": "Springfield Unified", "lms_state": None,
                                "contact_email": "it@springfield.k12.us"})  # fmt: skip
    mailer = Mailer.from_url(sink.url)

    with pytest.raises(AccessDenied, match="may not send, resend or cancel invitations"):
        invite(db_path, "d-new", actor=VIEWER, mailer=mailer)
    assert sink.messages == []
    assert _count(db_path, "SELECT COUNT(*) FROM invitations") == 0

    sent = invite(db_path, "d-new", actor=OPERATOR, mailer=mailer)
    assert (sent["state"], sent["actor"]) == ("sent", OPERATOR.email)
    for action, call in (
        ("resend", lambda: resend(db_path, sent["id"], actor=VIEWER, mailer=mailer)),
        ("cancel", lambda: cancel(db_path, sent["id"], actor=VIEWER)),
    ):
        with pytest.raises(AccessDenied, match=r"lee@district-support\.example is a viewer"):
            call()
        refused = _last_audit(db_path, action)
        assert (refused["actor"], refused["outcome"]) == (VIEWER.email, "refused")
    assert len(sink.messages) == 1
    with connect(db_path) as db:
        assert [r["state"] for r in db.query("SELECT state FROM invitations")] == ["sent"]
        outcomes = [(r["action"], r["actor"], r["outcome"]) for r in reversed(audit.entries(db))]
    assert outcomes == [
        ("invite", VIEWER.email, "refused"),
        ("invite", OPERATOR.email, "ok"),
        ("resend", VIEWER.email, "refused"),
        ("cancel", VIEWER.email, "refused"),
    ]
    assert cancel(db_path, sent["id"], actor=OPERATOR)["state"] == "cancelled"


def test_cli_string_actors_keep_every_right_and_are_recorded_as_given(db_path: Path, sink: MailSink) -> None:
    with connect(db_path) as db:
        db["districts"].insert({"id": "d-new", "name": "Springfield Unified", "lms_state": None,
                                "contact_email": "it@springfield.k12.us"})  # fmt: skip
    sent = invite(db_path, "d-new", actor="cli:pat", mailer=Mailer.from_url(sink.url))
    cancel(db_path, sent["id"], actor="cli:pat")
    with connect(db_path) as db:
        assert {(r["actor"], r["outcome"]) for r in audit.entries(db)} == {("cli:pat", "ok")}
