"""Cases: operators edit, viewers cannot (in the library itself), every change audited."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lmsdata import audit, cases
from lmsdata.access import AccessDenied, Principal, Role
from lmsdata.db import connect

OPERATOR = Principal("op@example.com", Role.OPERATOR)
VIEWER = Principal("view@example.com", Role.VIEWER)


def test_operator_changes_are_stored_and_audited(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cases.assign(path, OPERATOR, "d1", "op@example.com")
    cases.set_state(path, OPERATOR, "d1", "waiting on district")
    cases.snooze(path, OPERATOR, "d1", date(2030, 1, 2))
    cases.add_note(path, OPERATOR, "d1", "<b>called</b> [x](http://evil)")
    case = cases.get(path, "d1")
    assert case is not None
    assert case["assignee"] == "op@example.com"
    assert (case["state"], case["snoozed_until"]) == ("waiting on district", "2030-01-02")
    assert case["notes"][0]["body"] == "<b>called</b> [x](http://evil)"
    with connect(path) as db:
        actions = [e["action"] for e in audit.entries(db) if e["outcome"] == "ok"]
    assert actions == ["case-note", "case-snooze", "case-state", "case-assign"]


def test_viewer_cannot_edit_and_the_refusal_is_audited(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with pytest.raises(AccessDenied):
        cases.assign(path, VIEWER, "d1", "view@example.com")
    with pytest.raises(AccessDenied):
        cases.add_note(path, VIEWER, "d1", "hi")
    assert cases.get(path, "d1") is None
    with connect(path) as db:
        assert [e["outcome"] for e in audit.entries(db)] == ["refused", "refused"]


def test_unknown_state_is_refused_in_words(tmp_path: Path) -> None:
    with pytest.raises(cases.CaseError, match="one of"):
        cases.set_state(tmp_path / "c.db", OPERATOR, "d1", "done")


def test_cli_edits_and_shows_a_case_as_json(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from lmsdata.cli import cli

    db = str(tmp_path / "c.db")
    runner = CliRunner()
    edited = runner.invoke(cli, ["case", "edit", "d1", "--assign", "a@example.com", "--state", "waiting on Clever",
                                 "--snooze", "2030-01-02", "--note", "hi", "--ticket", "ZD-9", "--db", db,
                                 "--actor", "cli:t"])
    assert edited.exit_code == 0, edited.output
    shown = runner.invoke(cli, ["case", "show", "d1", "--db", db, "--format", "json"])
    row = json.loads(shown.output)[0]
    assert (row["assignee"], row["state"], row["snoozed_until"], row["notes"], row["ticket_id"]) == (
        "a@example.com", "waiting on Clever", "2030-01-02", 1, "ZD-9")


@pytest.mark.parametrize(
    ("ticket", "template", "link"),
    [
        ("123", "https://acme.zendesk.com/agent/tickets/{id}", "https://acme.zendesk.com/agent/tickets/123"),
        ("a/b?c", "https://jira.example/browse/{id}", "https://jira.example/browse/a%2Fb%3Fc"),
        ("123", "javascript:alert({id})", None),
        ("123", "https://x.example/no-placeholder", None),
        ("123", None, None),
        (None, "https://x.example/{id}", None),
    ],
)
def test_ticket_links_are_http_only(ticket: str | None, template: str | None, link: str | None) -> None:
    assert cases.ticket_link(ticket, template) == link


def test_ticket_id_is_stored_and_audited(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cases.set_ticket(path, OPERATOR, "d1", " ZD-9 ")
    case = cases.get(path, "d1")
    assert case is not None and case["ticket_id"] == "ZD-9"
    with connect(path) as db:
        assert audit.entries(db)[0]["action"] == "case-ticket"


def _district(did: str, health: str, owner: str, last_sync: str | None = None) -> dict[str, object]:
    return {"id": did, "name": did, "health": health, "owner": owner, "last_lms_sync": last_sync}


def test_queue_lists_my_open_cases_then_unassigned_districts_that_need_us_by_urgency_and_age() -> None:
    districts = [
        _district("fine", "healthy", "nobody"),
        _district("theirs", "action_needed", "district"),
        {**_district("ours-second", "stale", "district", "2026-01-03"),  # its second problem is ours
         "reasons": [{"owner": "district"}, {"owner": "partner"}]},
        _district("stale-new", "stale", "partner", "2026-01-05"),
        _district("urgent", "action_needed", "partner", "2026-01-09"),
        _district("stale-old", "stale", "partner", "2026-01-01"),
        _district("mine-late", "setting_up", "partner"),
        _district("mine-early", "setting_up", "partner"),
        _district("mine-done", "action_needed", "partner"),
        _district("snoozed", "action_needed", "partner"),
        _district("someone-else", "action_needed", "partner"),
    ]
    case_rows = {
        "mine-late": {"assignee": "me@x", "state": "open", "opened_at": "2026-01-03"},
        "mine-early": {"assignee": "me@x", "state": "waiting on district", "opened_at": "2026-01-02"},
        "mine-done": {"assignee": "me@x", "state": "resolved", "opened_at": "2026-01-01"},
        "snoozed": {"assignee": None, "state": "open", "snoozed_until": "2026-02-01"},
        "someone-else": {"assignee": "bo@x", "state": "open"},
    }
    rows = cases.queue(districts, case_rows, "me@x", date(2026, 1, 10))
    assert [(r["id"], r["queue"]) for r in rows] == [
        ("mine-early", "mine"), ("mine-late", "mine"),
        ("urgent", "unassigned"), ("stale-old", "unassigned"), ("ours-second", "unassigned"),
        ("stale-new", "unassigned"),
    ]
    later = [r["id"] for r in cases.queue(districts, case_rows, "me@x", date(2026, 2, 2))]
    assert later[2:4] == ["snoozed", "urgent"]  # the snooze is over; never synced counts as oldest
