"""Acceptance seen for real: the sandbox connects the district, a sync over loopback HTTP runs, the
invitation sent over real SMTP becomes accepted, and the audit log says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsdata import audit
from lmsdata.db import connect
from lmsdata.invitations import invite, list_invitations
from lmsdata.mail import Mailer, MailSink
from lmsdata.sandbox import Sandbox
from tests.sandbox_fixtures import pull, served


@pytest.fixture
def tiny() -> Iterator[tuple[Sandbox, str]]:
    with served(faults="none") as pair:
        yield pair


def test_invitation_is_accepted_when_a_sync_sees_the_district_connect(tiny: tuple[Sandbox, str], db_path: Path) -> None:
    sandbox, url = tiny
    district_id = sandbox.district_ids()[0]
    sandbox.set_lms_state(district_id, "")  # the district has not set up LMS Connect yet
    pull(url, db_path, district_id, full=True)
    with connect(db_path) as db:
        contact = db["districts"].get(district_id)["contact_email"]
    assert contact

    with MailSink() as sink:
        sent = invite(db_path, district_id, actor="pat@partner.example", mailer=Mailer.from_url(sink.url))
        [mail] = sink.messages
    assert (sent["state"], sent["email"]) == ("sent", contact)
    assert mail["X-LMSData-Invitation"] == str(sent["id"])

    pull(url, db_path, district_id)  # nothing changed at Clever: still waiting
    with connect(db_path) as db:
        assert [r["state"] for r in list_invitations(db)] == ["sent"]

    sandbox.set_lms_state(district_id, "pending_authorization", lms_type="canvas")  # the district started
    pull(url, db_path, district_id)  # incremental, through the Events API
    with connect(db_path) as db:
        [row] = list_invitations(db)
        assert row["state"] == "accepted"
        assert row["accepted_at"]
        accepted = audit.entries(db, action="invitation_accepted")
        actions = [e["action"] for e in reversed(audit.entries(db))]
    assert [(e["actor"], e["target"], e["outcome"]) for e in accepted] == [("system", district_id, "ok")]
    assert "pending_authorization" in accepted[0]["detail"]
    assert actions.index("invite") < actions.index("invitation_accepted")
