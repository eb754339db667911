"""Casework in the dashboard through AppTest: the case panel on a district and the "My queue" page."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from lmsdata import cases
from lmsdata.db import connect
from tests.test_pages import _clear_streamlit_caches, navigate, table  # noqa: F401 (autouse fixture)
from tests.test_pages_access import OPERATOR, VIEWER, as_user, button_keys, roles  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("roles")  # the page tests' cache at db_path, with three roles

HOSTILE = '<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))'


def by_label(widgets: Any, label: str) -> Any:
    return next(w for w in widgets if w.label == label)


def save(at: AppTest) -> AppTest:
    at.button(key="case_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def case_audit(db_path: Path) -> list[tuple[str, str, str]]:
    with connect(db_path) as db:
        return [(r["actor"], r["action"], r["target"]) for r in
                db.query("SELECT * FROM audit_log WHERE action LIKE 'case-%' ORDER BY id")]


def test_operator_assigns_notes_snoozes_and_changes_state_each_audited(db_path: Path) -> None:
    at = as_user(OPERATOR, "district", district="d-below")
    assert "case_save" in button_keys(at)
    by_label(at.selectbox, "Assignee").set_value(OPERATOR)
    save(at)
    assert by_label(at.metric, "Assignee").value == OPERATOR
    by_label(at.text_area, "Add a note (shown as plain text)").input(HOSTILE)
    save(at)
    by_label(at.date_input, "Snooze until").set_value(date(2030, 1, 2))
    save(at)
    by_label(at.text_input, "Ticket id").input("ZD-**4711**")
    save(at)
    assert "Ticket: ZD-**4711**" in [t.value for t in at.text]
    by_label(at.selectbox, "State").set_value("waiting on district")
    save(at)
    assert by_label(at.metric, "State").value == "waiting on district"
    assert by_label(at.metric, "Snoozed until").value == "2030-01-02"
    assert HOSTILE in [t.value for t in at.text]  # the note as typed, as plain text
    assert not [m for m in at.markdown if "onerror" in m.value or "javascript" in m.value]
    assert case_audit(db_path) == [(OPERATOR, action, "d-below") for action in
                                 ("case-assign", "case-note", "case-snooze", "case-ticket", "case-state")]
    case = cases.get(db_path, "d-below")
    assert case is not None and case["notes"][0]["body"] == HOSTILE


def test_viewer_reads_the_case_but_has_no_edit_controls(db_path: Path) -> None:
    cases.assign(db_path, "cli:test", "d-below", OPERATOR)
    cases.add_note(db_path, "cli:test", "d-below", "Asked the district to add e-mails.")
    at = as_user(VIEWER, "district", district="d-below")
    assert by_label(at.metric, "Assignee").value == OPERATOR
    assert "Asked the district to add e-mails." in [t.value for t in at.text]
    assert "case_save" not in button_keys(at)
    assert not [w for w in at.selectbox if w.label in ("Assignee", "State")]
    assert not at.text_area and not at.date_input


def test_my_queue_lists_my_case_first_then_unassigned_districts_by_urgency(db_path: Path) -> None:
    cases.assign(db_path, "cli:test", "d-quiet", OPERATOR)  # not connected: least urgent, but mine
    cases.assign(db_path, "cli:test", "d-healthy", "someone@partner.example")  # someone else's: not listed
    at = as_user(OPERATOR, "queue")
    assert not at.exception
    rows = table(at)
    assert list(zip(rows["Queue"], rows["District"], strict=True)) == [
        ("my case", "Quiet Hollow Schools"),
        ("unassigned", "Pine Ridge Academy"),  # setting up: our step
    ]  # Lakeview (Clever support's step), Riverside (every reason is the district's or nobody's: students
    # to match, transient failures) and Cedar Falls (the district's) wait on others


def test_queue_is_in_the_navigation(db_path: Path) -> None:
    at = navigate(as_user(OPERATOR), "queue")
    assert [t.value for t in at.title] == ["My queue"]


def test_the_ticket_links_out_only_through_the_configured_http_template(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases.set_ticket(db_path, "cli:test", "d-below", "4711")
    monkeypatch.setenv("LMSDATA_TICKET_URL", "https://acme.zendesk.example/agent/tickets/{id}")
    links = as_user(VIEWER, "district", district="d-below").get("link_button")
    assert [b.proto.url for b in links] == ["https://acme.zendesk.example/agent/tickets/4711"]
    monkeypatch.setenv("LMSDATA_TICKET_URL", "javascript:alert({id})")
    assert not as_user(VIEWER, "district", district="d-below").get("link_button")
