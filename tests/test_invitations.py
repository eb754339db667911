"""Invitations against a real SMTP server on loopback, tracked in a real cache file, every action audited."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lmsdata import audit
from lmsdata.db import connect, data_version
from lmsdata.health import assess
from lmsdata.invitations import (
    InvitationError,
    can_invite,
    cancel,
    inbound_requests,
    invite,
    latest_invitations,
    list_invitations,
    refresh_states,
    resend,
    validate_email,
)
from lmsdata.mail import Mailer, MailSink

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
MAIL_FROM = "Acme Math Support <support@acme-math.example>"

DISTRICTS: list[dict[str, Any]] = [
    {"id": "d-new", "name": "Springfield Unified", "lms_state": None, "contact_name": "Pat Lee",
     "contact_email": "it@springfield.k12.us"},
    {"id": "d-empty", "name": "Shelbyville ISD", "lms_state": "", "contact_name": None,
     "contact_email": "tech@shelbyville.k12.us"},
    {"id": "d-none", "name": "Ogdenville SD", "lms_state": None, "contact_name": None, "contact_email": None},
    {"id": "d-live", "name": "Capital City USD", "lms_state": "success", "lms_type": "canvas",
     "contact_email": "lms@capital.k12.us"},
    {"id": "d-pend", "name": "North Haverbrook", "lms_state": "pending_authorization", "lms_type": "schoology",
     "contact_name": "Sam Diaz", "contact_email": "sam@nh.k12.us", "last_pulled_at": "2026-11-27T08:00:00.000Z"},
]  # fmt: skip


@pytest.fixture
def cache(db_path: Path) -> Path:
    with connect(db_path) as db:
        db["districts"].insert_all(DISTRICTS, alter=False)
        db["district_history"].insert_all(
            [
                {"district_id": "d-pend", "pulled_at": "2026-11-20T08:00:00.000Z", "lms_state": ""},
                {
                    "district_id": "d-pend",
                    "pulled_at": "2026-11-22T08:00:00.000Z",
                    "lms_state": "pending_authorization",
                },
                {
                    "district_id": "d-pend",
                    "pulled_at": "2026-11-27T08:00:00.000Z",
                    "lms_state": "pending_authorization",
                },
            ]
        )
    return db_path


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


@pytest.fixture
def mailer(sink: MailSink) -> Mailer:
    return Mailer.from_url(sink.url)


def send(cache: Path, district_id: str, mailer: Mailer, **kwargs: Any) -> dict[str, Any]:
    return invite(
        cache, district_id, actor="pat@partner.example", mailer=mailer, mail_from=MAIL_FROM, now=NOW, **kwargs
    )


def audit_rows(cache: Path, action: str | None = None) -> list[dict[str, Any]]:
    with connect(cache) as db:
        return list(reversed(audit.entries(db, action=action)))


def states(cache: Path) -> dict[int, str]:
    with connect(cache) as db:
        return {row["id"]: row["state"] for row in db.query("SELECT id, state FROM invitations")}


def set_lms_state(cache: Path, district_id: str, lms_state: str | None) -> None:
    with connect(cache) as db:
        db["districts"].update(district_id, {"lms_state": lms_state})


def test_invite_mails_the_district_contact_and_records_it(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    with connect(cache) as db:
        version = data_version(db)
    row = send(cache, "d-new", mailer, message="We spoke at the conference on Tuesday.")

    assert row["state"] == "sent"
    assert row["email"] == "it@springfield.k12.us"
    assert row["expires_at"] == "2026-12-11T09:30:00.000Z"  # 14 days by default
    [mail] = sink.messages
    assert mail["To"] == "Pat Lee <it@springfield.k12.us>"
    assert mail["From"] == MAIL_FROM
    assert mail["X-LMSData-Invitation"] == str(row["id"])
    assert mail["Subject"] == "Connect Springfield Unified's LMS to Clever for Acme Math Support"
    body = mail.get_content()
    assert body.startswith("Hello Pat,\n\nWe spoke at the conference on Tuesday.\n")
    flat = " ".join(body.split())
    for must in ("1. Sign in to your Clever district dashboard", "Canvas, Schoology or Google Classroom",
                 "Reply to this e-mail or write to support@acme-math.example", "open until December 11, 2026",
                 "(Clever district id: d-new)"):  # fmt: skip
        assert must in flat
    assert max(len(line) for line in body.splitlines()) <= 72
    [entry] = audit_rows(cache)
    assert (entry["actor"], entry["action"], entry["target"], entry["outcome"]) == (
        "pat@partner.example", "invite", "d-new", "ok",
    )  # fmt: skip
    assert json.loads(entry["params"])["email"] == "it@springfield.k12.us"
    with connect(cache) as db:
        assert data_version(db) > version


def test_edited_address_wins_over_the_contact(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    row = send(cache, "d-none", mailer, email="  Helpdesk@Ogdenville.K12.US ")
    assert row["email"] == "Helpdesk@ogdenville.k12.us"
    assert sink.messages[0]["To"] == "Helpdesk@ogdenville.k12.us"
    assert sink.messages[0].get_content().startswith("Hello,\n\nAcme Math Support invites Ogdenville SD")


def test_odd_names_from_clever_cannot_break_the_headers(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    with connect(cache) as db:
        db["districts"].update("d-new", {"contact_name": "  ", "name": "Springfield\nUnified\r\nBcc: x@y.org"})
    assert send(cache, "d-new", mailer)["state"] == "sent"
    [mail] = sink.messages
    assert mail["Subject"] == "Connect Springfield Unified Bcc: x@y.org's LMS to Clever for Acme Math Support"
    assert mail["To"] == "it@springfield.k12.us"
    assert mail["Bcc"] is None
    assert mail.get_content().startswith("Hello,\n")


@pytest.mark.parametrize(
    ("district_id", "kwargs", "error"),
    [
        ("d-new", {"email": "it@springfield"}, "not a valid e-mail address: the domain"),
        ("d-new", {"email": "it springfield.k12.us"}, "not a valid e-mail address"),
        ("d-new", {"email": "a@b.org, c@d.org"}, "single address"),
        ("d-new", {"email": "Pat <it@springfield.k12.us>"}, "single address"),
        ("d-new", {"email": "it@@springfield.k12.us"}, "not a valid e-mail address"),
        ("d-new", {"email": "it.@springfield.k12.us"}, "the part before @"),
        ("d-new", {"email": "it@-bad-.k12.us"}, "the domain"),
        ("d-new", {"email": "it@springfield.k12.us\nBcc: all@x.org"}, "single address"),
        ("d-new", {"email": "it@10.0.0.1"}, "not an IP address"),
        ("d-nope", {}, "No district with id 'd-nope'"),
        ("d-live", {}, "Capital City USD is already set up for LMS Connect (lms_state success)"),
        ("d-pend", {}, "already set up"),
        ("d-none", {}, "Ogdenville SD has no contact e-mail in Clever; give an address"),
        ("d-new", {"message": "x" * 2001}, "keep it under 2000"),
    ],
)
def test_bad_input_is_refused_clearly_and_audited(
    cache: Path, sink: MailSink, mailer: Mailer, district_id: str, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(InvitationError, match=re.escape(error)):
        send(cache, district_id, mailer, **kwargs)
    assert sink.messages == []
    assert states(cache) == {}
    [entry] = audit_rows(cache)
    assert (entry["action"], entry["target"], entry["outcome"]) == ("invite", district_id, "refused")
    assert error.split("(")[0] in entry["detail"]


def test_one_open_invitation_per_district(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    first = send(cache, "d-new", mailer)
    with pytest.raises(InvitationError, match=rf"already has an open invitation \(#{first['id']}, sent to it@"):
        send(cache, "d-new", mailer, email="other@springfield.k12.us")
    assert len(sink.messages) == 1
    assert [e["outcome"] for e in audit_rows(cache, "invite")] == ["ok", "refused"]
    send(cache, "d-empty", mailer)  # another district is not affected
    assert len(sink.messages) == 2


def test_simultaneous_invites_send_exactly_one(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            invite(cache, "d-new", actor="racer", mailer=mailer)
            outcomes.append("sent")
        except InvitationError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "sent"]
    assert len(sink.messages) == 1


def test_a_refusing_server_leaves_a_failed_invitation_with_the_reason(
    cache: Path, sink: MailSink, mailer: Mailer
) -> None:
    sink.refuse = "550 5.1.1 Mailbox unavailable"
    row = send(cache, "d-new", mailer)
    assert row["state"] == "failed"
    assert row["error"] == "The mail server refused the message: 550 5.1.1 Mailbox unavailable"
    [entry] = audit_rows(cache)
    assert (entry["action"], entry["outcome"], entry["detail"]) == ("invite", "failed", row["error"])

    sink.refuse = None  # a failed invitation is not open: the district can be invited again
    retried = resend(cache, row["id"], actor="pat", mailer=mailer, now=NOW)
    assert (retried["state"], retried["resent_from"]) == ("sent", row["id"])
    assert states(cache) == {row["id"]: "failed", retried["id"]: "sent"}


def test_an_unreachable_server_fails_without_leaking_the_password(cache: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailer = Mailer.from_url(f"smtp://relay:R3lay-pa55word@127.0.0.1:{port}?timeout=2")
    row = send(cache, "d-new", mailer)
    assert row["state"] == "failed"
    assert f"Could not send mail through smtp://relay@127.0.0.1:{port}" in row["error"]
    [entry] = audit_rows(cache)
    assert entry["outcome"] == "failed"
    assert "R3lay-pa55word" not in json.dumps([row, entry])


def test_resend_replaces_the_open_invitation(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    first = send(cache, "d-new", mailer, message="First note.")
    second = resend(cache, first["id"], actor="sam", mailer=mailer, email="cio@springfield.k12.us", now=NOW)
    assert (second["state"], second["resent_from"], second["email"]) == ("sent", first["id"], "cio@springfield.k12.us")
    assert second["message"] == "First note."  # kept unless a new one is given
    with connect(cache) as db:
        listed = {row["id"]: row for row in list_invitations(db)}
    assert listed[first["id"]]["state"] == "cancelled"
    assert listed[first["id"]]["replaced_by"] == second["id"]
    assert listed[second["id"]]["district_name"] == "Springfield Unified"
    # The typed address is not the Clever contact's: neither the header nor the greeting names Pat Lee.
    assert [m["To"] for m in sink.messages] == ["Pat Lee <it@springfield.k12.us>", "cio@springfield.k12.us"]
    assert sink.messages[1].get_content().startswith("Hello,\n")
    [entry] = audit_rows(cache, "resend")
    assert (entry["actor"], entry["target"], entry["outcome"]) == ("sam", "d-new", "ok")
    assert json.loads(entry["params"])["resent_from"] == first["id"]


def test_resend_that_fails_keeps_the_old_invitation_open(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    first = send(cache, "d-new", mailer)
    sink.refuse = "451 4.3.0 Try again later"
    second = resend(cache, first["id"], actor="sam", mailer=mailer, now=NOW)
    assert states(cache) == {first["id"]: "sent", second["id"]: "failed"}
    assert [e["outcome"] for e in audit_rows(cache, "resend")] == ["failed"]


def test_resend_and_cancel_refusals_are_audited(cache: Path, mailer: Mailer) -> None:
    first = send(cache, "d-new", mailer)
    with pytest.raises(InvitationError, match="Invitation 999 does not exist"):
        resend(cache, 999, actor="sam", mailer=mailer)
    assert cancel(cache, first["id"], actor="sam", now=NOW)["state"] == "cancelled"
    with pytest.raises(InvitationError, match="is cancelled; only a sent invitation can be cancelled"):
        cancel(cache, first["id"], actor="sam")
    set_lms_state(cache, "d-new", "pending_authorization")
    with pytest.raises(InvitationError, match="already set up"):
        resend(cache, first["id"], actor="sam", mailer=mailer)
    outcomes = [(e["action"], e["target"], e["outcome"]) for e in audit_rows(cache)]
    assert outcomes == [
        ("invite", "d-new", "ok"),
        ("resend", None, "refused"),
        ("cancel", "d-new", "ok"),
        ("cancel", "d-new", "refused"),
        ("resend", "d-new", "refused"),
    ]


def test_accepted_when_the_district_leaves_empty_lms_state(cache: Path, mailer: Mailer) -> None:
    row = send(cache, "d-new", mailer)
    other = send(cache, "d-empty", mailer)
    with connect(cache) as db:
        assert refresh_states(db, now=NOW) == {"accepted": 0, "expired": 0, "failed": 0}
    set_lms_state(cache, "d-new", "pending_authorization")
    with connect(cache) as db:
        version = data_version(db)
        assert refresh_states(db, now=NOW + timedelta(hours=3))["accepted"] == 1
        assert data_version(db) == version + 1
        assert refresh_states(db, now=NOW + timedelta(hours=4)) == {"accepted": 0, "expired": 0, "failed": 0}
        assert data_version(db) == version + 1  # idempotent: nothing written the second time
        accepted = list_invitations(db, state="accepted")
    assert [(r["id"], r["accepted_at"]) for r in accepted] == [(row["id"], "2026-11-27T12:30:00.000Z")]
    assert states(cache)[other["id"]] == "sent"
    [entry] = audit_rows(cache, "invitation_accepted")
    assert (entry["actor"], entry["target"], entry["outcome"]) == ("system", "d-new", "ok")
    assert "pending_authorization" in entry["detail"]


def test_concurrent_refreshes_accept_once(cache: Path, mailer: Mailer) -> None:
    send(cache, "d-new", mailer)
    set_lms_state(cache, "d-new", "success")
    barrier = threading.Barrier(4)
    accepted: list[int] = []

    def refresh() -> None:
        with connect(cache) as db:
            barrier.wait()
            accepted.append(refresh_states(db, now=NOW)["accepted"])

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(accepted) == [0, 0, 0, 1]
    assert len(audit_rows(cache, "invitation_accepted")) == 1


def test_expiry_after_the_configured_days(cache: Path, mailer: Mailer) -> None:
    row = invite(cache, "d-new", actor="pat", mailer=mailer, expiry_days=3, now=NOW)
    with connect(cache) as db:
        later = NOW + timedelta(days=3)
        assert [r["state"] for r in list_invitations(db, now=later)] == ["expired"]  # shown before it is recorded
        assert [r["id"] for r in list_invitations(db, state="expired", now=later)] == [row["id"]]
        assert list_invitations(db, state="sent", now=later) == []
        assert latest_invitations(db, now=later)["d-new"]["invitation_state"] == "expired"
        assert [r["state"] for r in list_invitations(db, now=NOW)] == ["sent"]
        assert refresh_states(db, now=NOW + timedelta(days=2, hours=23))["expired"] == 0
        assert refresh_states(db, now=NOW + timedelta(days=3))["expired"] == 1
    assert states(cache) == {row["id"]: "expired"}
    assert [e["action"] for e in audit_rows(cache)] == ["invite", "invitation_expired"]
    again = invite(cache, "d-new", actor="pat", mailer=mailer, now=NOW + timedelta(days=4))  # expired is closed
    assert again["state"] == "sent"


def test_a_connection_seen_late_counts_as_accepted_not_expired(cache: Path, mailer: Mailer) -> None:
    row = invite(cache, "d-new", actor="pat", mailer=mailer, expiry_days=1, now=NOW)
    set_lms_state(cache, "d-new", "initial_sync_processing")
    with connect(cache) as db:
        assert refresh_states(db, now=NOW + timedelta(days=5)) == {"accepted": 1, "expired": 0, "failed": 0}
    assert states(cache) == {row["id"]: "accepted"}


def test_a_send_that_never_reported_back_becomes_failed(cache: Path) -> None:
    with connect(cache) as db:
        db["invitations"].insert(
            {"district_id": "d-new", "email": "it@springfield.k12.us", "state": "sending", "actor": "pat",
             "created_at": "2026-11-27T09:00:00.000Z", "expires_at": "2026-12-11T09:00:00.000Z"}
        )  # fmt: skip
        assert refresh_states(db, now=NOW)["failed"] == 1  # 30 minutes later
        [row] = list_invitations(db)
    assert row["state"] == "failed"
    assert "may or may not have gone out" in row["error"]


def test_latest_invitation_per_district_feeds_health(cache: Path, sink: MailSink, mailer: Mailer) -> None:
    first = send(cache, "d-new", mailer)
    resend(cache, first["id"], actor="sam", mailer=mailer, email="cio@springfield.k12.us", now=NOW)
    sink.refuse = "550 no such user"
    send(cache, "d-empty", mailer)
    with connect(cache) as db:
        latest = latest_invitations(db)
        district = {**db["districts"].get("d-new"), **latest["d-new"]}
    assert latest == {
        "d-new": {"invitation_state": "sent", "invitation_email": "cio@springfield.k12.us",
                  "invitation_sent_at": latest["d-new"]["invitation_sent_at"]},
        "d-empty": {"invitation_state": "failed", "invitation_email": "tech@shelbyville.k12.us",
                    "invitation_sent_at": None},
    }  # fmt: skip
    health = assess(district, now=NOW)
    assert (health.status, health.owner) == ("not_connected", "district")
    assert "cio@springfield.k12.us" in health.next_step


def test_inbound_requests_list_districts_waiting_on_us(cache: Path) -> None:
    with connect(cache) as db:
        [request] = inbound_requests(db)
    assert (request["id"], request["name"], request["contact_email"]) == ("d-pend", "North Haverbrook", "sam@nh.k12.us")
    assert request["waiting_since"] == "2026-11-22T08:00:00.000Z"


@pytest.mark.parametrize(
    "address",
    ["it@springfield.k12.us", "first.last+lms@district.org", "o'brien@dist.k12.ca.us", "it@bücher.example"],
)
def test_valid_addresses(address: str) -> None:
    assert validate_email(address) == address


@pytest.mark.parametrize(("state", "allowed"), [(None, True), ("", True), ("success", False),
                                                ("pending_authorization", False), ("disconnected", False)])  # fmt: skip
def test_can_invite_only_districts_without_lms_connect(state: str | None, allowed: bool) -> None:
    verdict, why = can_invite({"id": "d", "name": "Laramie County", "lms_state": state})
    assert verdict is allowed
    assert ("already set up for LMS Connect" in why) is not allowed
