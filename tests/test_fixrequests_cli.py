"""`lmsdata fix-request …` end to end: a real cache file, real SMTP on loopback, JSON out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.mail import MailSink
from tests.test_fixrequests import attachment, audit_rows, cache  # noqa: F401 (the hand-made cache at db_path)

pytestmark = pytest.mark.usefixtures("cache")


@pytest.fixture
def smtp() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


def run(args: list[str], db: Path, smtp_url: str = "") -> Result:
    env = {"LMSDATA_DB": str(db), "SMTP_URL": smtp_url, "CLEVER_CLIENT_ID": "", "CLEVER_CLIENT_SECRET": "",
           "MAIL_FROM": "Acme Math <support@acme-math.example>"}  # fmt: skip
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_dry_run_shows_the_items_and_sends_and_records_nothing(db_path: Path, smtp: MailSink) -> None:
    shown = run(["fix-request", "create", "d-1", "--dry-run", "--format", "json"], db_path, smtp.url)
    assert shown.exit_code == 0, shown.output
    preview = json.loads(shown.output)
    assert preview["to"] == "it@springfield.k12.us"
    assert {i["object_id"] for i in preview["items"]} == {"u-cmd", "u-mail", "u-dom", "u-sis", "t-1", "sec-1"}
    table = run(["fix-request", "create", "d-1", "--dry-run", "--to", "cio@springfield.k12.us"], db_path)
    assert table.output.startswith("Dry run: would send 6 items to cio@springfield.k12.us.")
    assert not smtp.messages and not audit_rows(db_path)


def test_create_list_show_remind_close(db_path: Path, smtp: MailSink) -> None:
    created = run(["fix-request", "create", "d-1", "--message", "Hello from Acme.", "--actor", "pat@acme"],
                  db_path, smtp.url)
    assert created.exit_code == 0, created.output
    assert created.output == "Fix request 1 sent to it@springfield.k12.us: 6 items.\n"
    assert "Hello from Acme." in str(smtp.messages[0].get_body(("plain",)).get_content())

    again = run(["fix-request", "create", "d-1"], db_path, smtp.url)
    assert again.exit_code == 1 and "Refused: Springfield Unified already has an open fix request (#1" in again.output

    with connect(db_path) as db:  # what a sync would write after the district fixed two
        db.execute("UPDATE users SET synced_in_lms = 1 WHERE id IN ('u-mail', 'u-dom')")
        db.conn.commit()
    [listed] = json.loads(run(["fix-request", "list", "--format", "json"], db_path).output)
    assert (listed["id"], listed["state"], listed["progress"]) == (1, "open", "2 of 6 fixed")

    shown = json.loads(run(["fix-request", "show", "1", "--format", "json"], db_path).output)
    assert [(i["object_id"], i["resolution"]) for i in shown["item_rows"]][-2:] == [("u-mail", "fixed"),
                                                                                    ("u-dom", "fixed")]
    reminded = run(["fix-request", "remind", "1", "--actor", "pat@acme"], db_path, smtp.url)
    assert reminded.exit_code == 0, reminded.output
    assert reminded.output == "Reminder sent to it@springfield.k12.us: 4 items still open (2 of 6 fixed).\n"
    still = {row["clever_id"]: row for row in attachment(smtp.messages[-1])}
    assert set(still) == {"u-cmd", "u-sis", "t-1", "sec-1"}
    assert (still["sec-1"]["teacher"], still["u-cmd"]["name"][0]) == ("Edna Krabappel", "'")  # as in the first mail

    closed = json.loads(run(["fix-request", "close", "1", "--actor", "pat@acme", "--format", "json"], db_path).output)
    assert (closed["state"], closed["close_reason"], closed["closed_by"]) == ("closed", "closed by hand", "pat@acme")
    assert [a[1:] for a in audit_rows(db_path) if a[0] == "pat@acme"] == [
        ("fix-request", "d-1", "ok"), ("fix-request-remind", "d-1", "ok"), ("fix-request-close", "d-1", "ok")]
    missing = run(["fix-request", "show", "7"], db_path)
    assert missing.exit_code == 1 and "Fix request #7 does not exist" in missing.output


def test_without_a_mail_server_it_says_how_to_set_one(db_path: Path) -> None:
    result = run(["fix-request", "create", "d-1"], db_path)
    assert result.exit_code == 2
    assert "Sending a fix request needs a mail server: set SMTP_URL" in result.output
