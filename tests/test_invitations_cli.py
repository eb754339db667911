"""`lmsdata invite`, `invitations`, `audit` end to end: real cache file, real SMTP on loopback."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.mail import MailSink


@pytest.fixture
def cache(db_path: Path) -> Path:
    with connect(db_path) as db:
        db["districts"].insert_all(
            [
                {"id": "d-new", "name": "Springfield Unified", "lms_state": None, "contact_name": "Pat Lee",
                 "contact_email": "it@springfield.k12.us"},
                {"id": "d-pend", "name": "North Haverbrook", "lms_state": "pending_authorization",
                 "contact_email": "sam@nh.k12.us", "last_pulled_at": "2026-11-27T08:00:00.000Z"},
            ]
        )  # fmt: skip
    return db_path


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


def run(args: list[str], cache: Path, smtp_url: str = "") -> Result:
    env = {"LMSDATA_DB": str(cache), "SMTP_URL": smtp_url, "CLEVER_CLIENT_ID": "", "CLEVER_CLIENT_SECRET": "",
           "MAIL_FROM": "Acme Math <support@acme-math.example>"}  # fmt: skip
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_invite_list_resend_cancel_and_audit(cache: Path, sink: MailSink) -> None:
    sent = run(["invite", "d-new", "--message", "Hello from Acme.", "--actor", "pat@acme"], cache, sink.url)
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith("Invitation 1 sent to it@springfield.k12.us (open until ")
    assert "Hello from Acme." in sink.messages[0].get_content()
    assert sink.messages[0]["From"] == "Acme Math <support@acme-math.example>"

    again = run(["invite", "d-new"], cache, sink.url)
    assert again.exit_code == 1
    assert "Refused: Springfield Unified already has an open invitation (#1" in again.output

    resent = run(["invitations", "resend", "1", "--email", "cio@springfield.k12.us"], cache, sink.url)
    assert resent.exit_code == 0, resent.output
    assert "Invitation 2 sent to cio@springfield.k12.us" in resent.output

    listed = json.loads(run(["invitations", "--format", "json"], cache).output)
    assert [(r["id"], r["state"], r["replaced_by"], r["resent_from"]) for r in listed] == [
        (2, "sent", None, 1),
        (1, "cancelled", 2, None),
    ]
    assert run(["invitations", "cancel", "2"], cache).output == "Invitation 2 to cio@springfield.k12.us cancelled.\n"
    refused = run(["invitations", "cancel", "2"], cache)
    assert (refused.exit_code, refused.output.strip()) == (
        1, "Refused: Invitation 2 is cancelled; only a sent invitation can be cancelled.",
    )  # fmt: skip

    log = json.loads(run(["audit", "--format", "json"], cache).output)
    assert [(e["action"], e["outcome"]) for e in log] == [
        ("cancel", "refused"), ("cancel", "ok"), ("resend", "ok"), ("invite", "refused"), ("invite", "ok"),
    ]  # fmt: skip
    assert log[-1]["actor"] == "pat@acme"
    assert log[0]["actor"].startswith("cli:")
    mine = json.loads(run(["audit", "--format", "json", "--actor", "pat@acme"], cache).output)
    assert [e["action"] for e in mine] == ["invite"]
    rows = list(csv.DictReader(io.StringIO(run(["audit", "--format", "csv", "--action", "resend"], cache).output)))
    assert [(r["action"], r["outcome"], r["target"]) for r in rows] == [("resend", "ok", "d-new")]


def test_refusing_server_exits_non_zero_with_the_reason(cache: Path, sink: MailSink) -> None:
    sink.refuse = "554 5.7.1 Rejected by policy"
    result = run(["invite", "d-new"], cache, sink.url)
    assert result.exit_code == 1
    assert "could not be sent: The mail server refused the message: 554 5.7.1 Rejected by policy" in result.output
    [row] = json.loads(run(["invitations", "--format", "json", "--state", "failed"], cache).output)
    assert row["error"].endswith("554 5.7.1 Rejected by policy")


def test_without_smtp_url_says_what_to_set(cache: Path) -> None:
    result = run(["invite", "d-new"], cache)
    assert result.exit_code == 2
    assert "set SMTP_URL" in result.output
    assert "demo sends to its built-in local mail sink" in result.output
    assert json.loads(run(["audit", "--format", "json"], cache).output) == []  # nothing was attempted


def test_bad_smtp_url_is_a_usage_error_without_the_password(cache: Path) -> None:
    result = run(["invite", "d-new"], cache, "smtp://u:Sup3r-secret@mail.example.org:notaport")
    assert result.exit_code == 2
    assert "SMTP_URL" in result.output
    assert "Sup3r-secret" not in result.output


def test_unknown_district_is_refused(cache: Path, sink: MailSink) -> None:
    result = run(["invite", "nope"], cache, sink.url)
    assert (result.exit_code, result.output.strip()) == (
        1, "Refused: No district with id 'nope' in the cache; check the id or run `lmsdata sync`.",
    )  # fmt: skip


def test_inbound_and_table_output(cache: Path) -> None:
    table = run(["invitations", "inbound"], cache).output.splitlines()
    assert table[0].split() == ["id", "name", "lms_type", "contact_name", "contact_email", "waiting_since"]
    assert table[1].split()[:3] == ["d-pend", "North", "Haverbrook"]
    assert run(["invitations"], cache).output == "(no rows)\n"
