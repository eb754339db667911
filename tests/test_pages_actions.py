"""The embedded demo and the dashboard's actions, through AppTest, against the real sandbox.

No credentials: the app builds its demo cache from the in-process sandbox served on loopback
(full sync, partner traffic, invitations to a local mail sink) and every action goes through the
library over real HTTP. The sandbox lives for this module (one per server, as in production).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lmsdata.db import connect
from tests import test_pages as pages
from tests.test_pages import assert_no_error, select_rows, table, texts

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = ("CLEVER_CLIENT_ID", "CLEVER_CLIENT_SECRET", "SMTP_URL", "CLEVER_API_URL", "CLEVER_OAUTH_URL")


def _demo_environment(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> None:
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LMSDATA_DB", str(db_path))


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    st.cache_data.clear()
    st.cache_resource.clear()
    db_path = tmp_path_factory.mktemp("demo") / "demo.db"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _demo_environment(monkeypatch, db_path)
        open_page()  # the first start builds the demo, whichever test of this module runs first
    yield db_path
    st.cache_resource.clear()  # stops the sandbox server and the mail sink
    st.cache_data.clear()


@pytest.fixture
def demo(demo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _demo_environment(monkeypatch, demo_cache)
    st.cache_data.clear()
    return demo_cache


def open_page(page: str | None = None, **query: str) -> AppTest:
    return pages.open_page(page, timeout=60, auth=False, **query)  # the first start builds the demo; no sign-in


def count(db_path: Path, sql: str, *params: object) -> int:
    with connect(db_path) as db:
        return int(db.execute(sql, list(params)).fetchone()[0])


def test_first_start_builds_the_demo_cache_and_says_it_is_a_demo(demo: Path) -> None:
    at = open_page()
    assert "Demo mode" in texts(at)
    assert len(table(at)) == 12
    assert count(demo, "SELECT COUNT(*) FROM pushes WHERE state = 'failed'") > 0
    assert count(demo, "SELECT COUNT(*) FROM invitations WHERE state = 'sent'") >= 1
    assert count(demo, "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'success'") == 2
    assert "Acting as `demo`" in texts(at)


def test_the_demo_has_a_month_of_history_to_chart(demo: Path) -> None:
    from lmsdata.health import transitions
    from lmsdata.status import district_rows

    with connect(demo) as db:
        history = list(db.query("SELECT * FROM district_history ORDER BY pulled_at"))
        rows = {row["lms_state"]: row for row in district_rows(db)}
    assert len({row["pulled_at"][:10] for row in history}) >= 28
    changes = {(t.before, t.after) for t in transitions(history) if t.kind == "lms_state"}
    assert {("initial_sync_processing", "matching_in_progress"), ("success", "error"),
            ("success", "disconnected"), ("", "pending_authorization")} <= changes
    stuck = rows["initial_sync_processing"]  # reading the LMS for 12 days: past the stuck threshold
    assert (stuck["health"], stuck["owner"]) == ("action_needed", "clever_support")
    assert (rows["matching_in_progress"]["health"], rows["matching_in_progress"]["owner"]) == ("setting_up", "nobody")


def test_retrying_a_ready_push_sends_it_and_shows_the_result(demo: Path) -> None:
    at = open_page("pushes")
    at.toggle(key="pushes_ready_only").set_value(True).run()
    ready = table(at, 2)
    # the partner traffic matched a student or synced a section after these failed: they can go now
    unblocked = ready[ready["Category"].isin(["Student not matched in the LMS", "Section not synced to the LMS"])]
    row = int(unblocked.index[0])
    push_id = int(ready.iloc[row]["Push"])
    select_rows(at, "pushes_table", [row])
    at.button(key="pushes_retry_selected").click().run()
    assert f"Retry 1 push (push {push_id} · " in texts(at)  # the question names the push it will touch
    at.button(key="pushes_retry_yes").click().run()
    assert_no_error(at)
    assert "Retry finished: 1 sent." in texts(at)
    # nothing stays ticked: the rows moved under the old selection, and a second click must not hit them
    assert at.button(key="pushes_retry_selected").label == "Retry selected (0)"
    assert at.button(key="pushes_retry_selected").disabled
    assert count(demo, "SELECT COUNT(*) FROM pushes WHERE id = ? AND state = 'sent'", push_id) == 1
    assert count(demo, "SELECT COUNT(*) FROM audit_log WHERE action = 'retry' AND actor = 'demo'") >= 1


def test_a_blocked_push_is_skipped_with_its_reason(demo: Path) -> None:
    at = open_page("pushes")
    pushes = table(at, 2)
    blocked = pushes[pushes["Category"] == "Our request was invalid"]
    row = int(blocked.index[0])
    push_id = int(blocked.iloc[0]["Push"])
    at.session_state["pushes_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    at.button(key="pushes_retry_selected").click().run()
    at.button(key="pushes_retry_yes").click().run()
    assert_no_error(at)
    result = at.dataframe[0].value
    assert list(result["push"]) == [push_id] and list(result["outcome"]) == ["skipped"]
    assert "rejected" in result["reason"].iloc[0]
    assert count(demo, "SELECT COUNT(*) FROM pushes WHERE id = ? AND state = 'failed'", push_id) == 1


def test_sync_now_on_a_district_records_a_run(demo: Path) -> None:
    with connect(demo) as db:
        district_id = db.execute("SELECT id FROM districts WHERE lms_state = 'success' ORDER BY name").fetchone()[0]
    runs_before = count(demo, "SELECT COUNT(*) FROM sync_runs")
    at = open_page("district", district=district_id)
    at.button(key="district_sync_button").click().run()
    at.button(key="district_sync_yes").click().run()
    assert_no_error(at)
    assert f"Sync #{runs_before + 1} finished:" in texts(at)
    assert count(demo, "SELECT COUNT(*) FROM sync_runs") == runs_before + 1
    assert count(demo, "SELECT COUNT(*) FROM sync_run_districts WHERE run_id = (SELECT MAX(id) FROM sync_runs) "
                       "AND district_id = ? AND outcome = 'success'", district_id) == 1


def test_sync_now_while_another_sync_runs_says_so_plainly(demo: Path) -> None:
    from lmsdata.sync import _sync_lock

    with connect(demo) as db:
        district_id = db.execute("SELECT id FROM districts WHERE lms_state = 'success' ORDER BY name").fetchone()[0]
    runs_before = count(demo, "SELECT COUNT(*) FROM sync_runs")
    at = open_page("district", district=district_id)
    with _sync_lock(demo):  # as a CLI `lmsdata sync` of the same cache would hold it
        at.button(key="district_sync_button").click().run()
        at.button(key="district_sync_yes").click().run()
    assert not at.exception
    assert "The sync could not start: Another sync of this cache is running" in texts(at)
    assert count(demo, "SELECT COUNT(*) FROM sync_runs") == runs_before


def test_sending_an_invitation_lists_it_and_delivers_the_mail(demo: Path) -> None:
    with connect(demo) as db:
        district_id, name = db.execute(
            "SELECT id, name FROM districts WHERE COALESCE(lms_state, '') = '' AND id NOT IN "
            "(SELECT district_id FROM invitations WHERE state = 'sent') ORDER BY name"
        ).fetchone() or (None, None)
    if district_id is None:  # every unconnected district already has its invitation: cancel one first
        at = open_page("invitations")
        at.session_state["invitations_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
        at.run()
        at.button(key="invitation_cancel").click().run()
        at.button(key="invitations_row_yes").click().run()
        assert "cancelled" in texts(at)
        with connect(demo) as db:
            district_id, name = db.execute(
                "SELECT i.district_id, d.name FROM invitations i JOIN districts d ON d.id = i.district_id "
                "WHERE i.state = 'cancelled' ORDER BY i.id DESC"
            ).fetchone()
    at = open_page("invitations")
    at.selectbox(key="invite_district").set_value(district_id).run()
    at.text_input(key=f"invite_to_{district_id}").input("it-director@example.org")
    next(b for b in at.button if b.label == "Send invitation").click().run()
    assert_no_error(at)
    assert "Invitation sent to it-director@example.org." in texts(at)
    listed = table(at, 0)
    assert listed.iloc[0]["email"] == "it-director@example.org" and listed.iloc[0]["state"] == "sent"
    assert listed.iloc[0]["district_name"] == name
    mailbox = next(e for e in at.expander if "Demo mailbox" in e.label)
    assert name in mailbox.label or any(name in m.value for m in mailbox.markdown)
    audit = open_page("audit")
    actions = table(audit)
    assert {"invite", "retry", "sync"} <= set(actions["action"])


def test_resend_then_cancel_an_invitation(demo: Path) -> None:
    at = open_page("invitations")
    rows = table(at, 0)
    position = int(rows.index[rows["state"] == "sent"][0])
    old_id = int(rows.iloc[position]["id"])
    select_rows(at, "invitations_table", [position])
    at.button(key="invitation_resend").click().run()
    assert f"Send the invitation to {rows.iloc[position]['email']} (" in texts(at)
    assert at.button(key="invitations_row_yes").label == "Send it again"
    at.button(key="invitations_row_yes").click().run()
    assert_no_error(at)
    assert "Invitation sent again to" in texts(at)
    rows = table(at, 0)
    new = rows[rows["resent_from"] == old_id].iloc[0]
    assert new["state"] == "sent"
    position = int(rows.index[rows["id"] == new["id"]][0])
    select_rows(at, "invitations_table", [position])
    at.button(key="invitation_cancel").click().run()
    assert at.button(key="invitations_row_yes").label == "Cancel the invitation"
    assert at.button(key="invitations_row_no").label == "Keep it"
    at.button(key="invitations_row_yes").click().run()
    assert_no_error(at)
    assert f"Invitation {int(new['id'])} cancelled." in texts(at)
    assert count(demo, "SELECT COUNT(*) FROM invitations WHERE id = ? AND state = 'cancelled'", int(new["id"])) == 1
    assert count(demo, "SELECT COUNT(*) FROM audit_log WHERE action IN ('resend', 'cancel') AND actor = 'demo'") >= 2


def test_after_a_restart_the_recreated_sandbox_still_accepts_the_retries(tmp_path: Path) -> None:
    """A later start reuses the cache and replays the partner traffic into a fresh sandbox."""
    from lmsdata import demo, queries
    from lmsdata.client import CleverClient
    from lmsdata.pushes import retry_pushes

    built = tmp_path / "demo.db"
    first = demo.start(built)
    try:
        demo.build(first)
    finally:
        first.close()
    restarted = demo.start(built)  # a new server process: a new sandbox from the same seed
    try:
        demo.restore(restarted)
        with connect(built) as db:
            ready = queries.failed_pushes(db, ready_only=True, categories=("student_not_matched", "section_not_synced"))
        assert not ready.empty
        with CleverClient.from_settings(restarted.settings) as client:
            report = retry_pushes(client, built, [int(i) for i in ready["id"]], actor="demo")
    finally:
        restarted.close()
    assert {item.outcome for item in report.items} == {"sent"}, report.items


def test_a_push_waiting_on_another_links_to_it_and_shows_no_http_status(demo: Path) -> None:
    at = open_page("pushes")
    assert_no_error(at)
    pushes = table(at, 2)
    waiting = pushes[pushes["Waits on"] != ""]
    assert not waiting.empty  # the demo's grades whose assignment create failed
    assert (waiting["HTTP"] == "").all()  # they never reached Clever: a blank cell, not "None" or 0
    assert all(re.fullmatch(r"pushes\?push=\d+", link) for link in waiting["Waits on"])
    assert (pushes[pushes["Waits on"] == ""]["HTTP"].str.fullmatch(r"\d{3}")).any()
