"""Every dashboard page through AppTest, on a small hand-made cache (tests/ui_fixtures.py).

The app runs with (made-up) Clever credentials so it reads the given cache instead of building
the demo; actions that talk to Clever are tested in test_pages_actions.py against the sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lmsdata.db import bump_data_version, connect
from lmsdata.pushes.taxonomy import Category
from lmsdata.ui.safe import WORD_JOINER
from tests.ui_fixtures import ADMIN_EMAIL, build_cache, signed_in
from tests.ui_fixtures import at as at_time

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def cache(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    build_cache(db_path)
    _real_mode(monkeypatch, db_path)
    return db_path


def _real_mode(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> None:
    """Real (made-up) credentials, so sign-in is required: the tests sign in as an admin (`app`)."""
    for name, value in {
        "LMSDATA_ADMINS": ADMIN_EMAIL,
        "LMSDATA_DB": str(db_path),
        "CLEVER_CLIENT_ID": "client-for-page-tests",
        "CLEVER_CLIENT_SECRET": "secret-for-page-tests",
        "CLEVER_API_URL": "http://127.0.0.1:9",
        "CLEVER_OAUTH_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)


def app(script: str = "dashboard.py", timeout: float = 30, *, auth: bool = True) -> AppTest:
    """The app with sign-in configured and the admin signed in (`auth` False: no sign-in configured)."""
    at = AppTest.from_file(str(ROOT / script), default_timeout=timeout)
    return signed_in(at) if auth else at


def open_page(page: str | None = None, *, timeout: float = 30, auth: bool = True, **query: str) -> AppTest:
    at = run_with(app(timeout=timeout, auth=auth), **query)
    if page:
        return navigate(at, page, **query)
    assert_no_error(at)
    return at


def run_with(at: AppTest, **query: str) -> AppTest:
    """Run `at` with these query parameters in the URL."""
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def navigate(at: AppTest, page: str, **query: str) -> AppTest:
    """Switch to `pages/<page>.py`, as a click in the navigation does."""
    at.switch_page(f"pages/{page}.py")
    run_with(at, **query)
    assert_no_error(at)
    return at


def assert_no_error(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "Something went wrong" in e.value]


def texts(at: AppTest) -> str:
    """Everything a reader sees as text (markdown, captions, alerts, titles), one string to search."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success",
                                  "error") for e in getattr(at, kind)]
    shown = "\n".join(str(p) for p in parts).replace(WORD_JOINER, "")  # the joiners that stop auto-links are invisible
    return re.sub(r"\\([!-/:-@[-`{-~])", r"\1", shown)  # escaped marks read as themselves


def select_rows(at: AppTest, base: str, rows: list[int]) -> AppTest:
    """Tick these rows of the selectable table `base`, under the key it has now (a new one after each action)."""
    generation = at.session_state[f"{base}__generation"] if f"{base}__generation" in at.session_state else 0  # noqa: SIM401 (no .get on AppTest state)
    at.session_state[base if not generation else f"{base}_{generation}"] = {
        "selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def table(at: AppTest, index: int = 0):  # type: ignore[no-untyped-def]
    return at.dataframe[index].value


# ------------------------------------------------------------------------------------------ Overview


def test_overview_headline_figures_chart_and_every_district(cache: Path) -> None:
    at = open_page()
    metrics = {m.label: m.value for m in at.metric}
    # one meaning of connected (`health.is_connected`, any lms_state) for both figures: 4 of 6 districts have
    # LMS Connect, 2 of them fully set up (lms_state success), 2 never connected
    assert metrics["Connected"] == "4 of 6"
    assert "(2 fully set up)" in next(m.help for m in at.metric if m.label == "Connected")
    # of the 4 connected districts none is healthy (Maple Grove has a failed push); the old headline said "0%" of all 6
    assert metrics["Healthy"] == "0 of 4"
    assert "0 of 4 connected districts" in next(m.help for m in at.metric if m.label == "Healthy")
    assert metrics["Unmatched"] == "2"
    assert "Unmatched students" in next(m.help for m in at.metric if m.label == "Unmatched")
    assert metrics["Failed, 7 days"] == "3"
    assert metrics["Invitations"] == "1"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert sum(chart["x"]) == 6
    rows = table(at)
    assert set(rows["District"]) == {"Maple Grove Schools", "Riverside Unified", "Cedar Falls District",
                                     "Lakeview Public Schools", "Quiet Hollow Schools", "Pine Ridge Academy"}
    cedar = rows[rows["District"] == "Cedar Falls District"].iloc[0]
    assert list(cedar["Status"]) == ["Not connected"]
    assert "invitation" in cedar["Next step"]
    assert cedar["Open"] == "district?district=d-new"
    assert "Demo mode" not in texts(at)
    assert "Data pulled" in texts(at)


def test_overview_filters_search_and_sorting(cache: Path) -> None:
    at = open_page()
    at.multiselect(key="overview_status").set_value(["not_connected"]).run()
    assert set(table(at)["District"]) == {"Cedar Falls District", "Quiet Hollow Schools"}
    at.multiselect(key="overview_status").set_value([]).run()
    at.multiselect(key="overview_lms").set_value(["schoology"]).run()
    assert list(table(at)["District"]) == ["Riverside Unified"]
    at.multiselect(key="overview_lms").set_value([]).run()
    at.text_input(key="overview_search").input("lake").run()
    assert list(table(at)["District"]) == ["Lakeview Public Schools"]
    at.text_input(key="overview_search").input("").run()
    at.selectbox(key="overview_sort").set_value("Name").run()
    assert list(table(at)["District"]) == sorted(table(at)["District"])
    at.selectbox(key="overview_sort").set_value("Lowest matched students").run()
    assert table(at)["District"].iloc[-1] == "Maple Grove Schools"
    at.text_input(key="overview_search").input("no such district").run()
    assert "No district matches these filters" in texts(at)


def test_selecting_a_row_opens_that_district(cache: Path) -> None:
    at = open_page()
    position = list(table(at)["District"]).index("Riverside Unified")
    at.session_state["overview_table"] = {"selection": {"rows": [position], "columns": [], "cells": []}}
    at.run()
    assert at.title[0].value == "Riverside Unified"
    assert at.query_params["district"] == "d-below"


def test_empty_cache_says_how_to_fill_it(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with connect(db_path):
        pass
    _real_mode(monkeypatch, db_path)
    for page in (None, "district", "unmatched", "pushes", "sync", "invitations", "audit"):
        at = open_page(page)
        assert "sync" in texts(at).lower() or "nothing" in texts(at).lower(), page
        assert not at.dataframe or page in ("pushes",), page


# ------------------------------------------------------------------------------------------ District


def test_district_deep_link_shows_status_owner_next_step_trend_and_problems(cache: Path) -> None:
    at = open_page("district", district="d-below")
    assert at.title[0].value == "Riverside Unified"
    text = texts(at)
    assert "**Owner:**" in text and "**Next step:**" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["LMS state"] == "success" and metrics["LMS"] == "Schoology"
    assert metrics["Matched students"] == "60%"
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [t["name"] for t in charts[0]["data"]] == ["students", "teachers", "sections"]
    assert charts[1]["data"][0]["y"] == ["matching_in_progress", "success"]
    frames = [d.value for d in at.dataframe]
    assert any("LMS state matching in progress → success" in set(f.get("change", [])) for f in frames)
    assert any(set(f.get("name", [])) == {"Biology 2"} for f in frames)  # unsynced section
    users = next(f for f in frames if "first_name" in f.columns)  # unmatched users, students masked
    assert set(users["first_name"]) == {"G.", "A."} and "g•••@riverside.example.org" in set(users["email"])
    pushes = next(f for f in frames if "assignment_key" in f.columns)
    assert "Grace Hopper" not in set(pushes["student"])  # masked outside the reveal
    assert at.button(key="district_sync_button")
    # already connected: no invitation is offered (the library would refuse it), the reason is said instead
    assert "already set up for LMS Connect" in texts(at) and not any(b.label == "Send invitation" for b in at.button)
    at = open_page("district", district="d-quiet")
    assert at.text_input[0].value == "it@d-quiet.example.org"  # invitation prefilled from the contact


def test_district_unknown_or_missing_id(cache: Path) -> None:
    at = open_page("district", district="d-nope")
    assert "no district with id d-nope." in texts(at)
    at = open_page("district")
    assert "Choose a district" in texts(at)
    at.selectbox(key="district_pick_").set_value("d-error").run()
    assert at.title[0].value == "Lakeview Public Schools"
    assert at.query_params["district"] == "d-error"


def test_a_page_run_by_itself_draws_the_same_frame(cache: Path) -> None:
    """What Streamlit does for a deep link on a fresh server: it runs pages/district.py alone."""
    at = app("pages/district.py")
    at.query_params["district"] = "d-below"
    at.run()
    assert_no_error(at)
    assert at.title[0].value == "Riverside Unified"
    assert "Data pulled" in texts(at)  # the frame's sidebar


# ------------------------------------------------------------------------------------------ Unmatched


def test_unmatched_lists_filters_search_and_csv(cache: Path) -> None:
    at = open_page("unmatched")
    users = table(at, 0)
    assert set(users["last_name"]) == {"H.", "T."}  # students are masked; the search still finds them
    assert set(table(at, 1)["name"]) == {"Biology 2"}
    csv = at.get("download_button")[0].proto
    assert "2 rows" in csv.label
    at.text_input(key="unmatched_search").input("S201").run()
    assert list(table(at, 0)["last_name"]) == ["T."]
    at.text_input(key="unmatched_search").input("").run()
    at.multiselect(key="unmatched_role").set_value(["teacher"]).run()
    assert "No unmatched users with these filters" in texts(at)
    at.multiselect(key="unmatched_role").set_value(["student"]).run()
    at.multiselect(key="unmatched_district").set_value(["d-healthy"]).run()
    assert "No unmatched users" in texts(at)
    at.multiselect(key="unmatched_district").set_value(["d-below"]).run()
    at.multiselect(key="unmatched_school").set_value(["d-below-sch"]).run()
    assert len(table(at, 0)) == 2
    at.multiselect(key="unmatched_lms").set_value(["canvas"]).run()
    assert "No unmatched users" in texts(at)


# ------------------------------------------------------------------------------------------ Failed pushes


def test_failed_pushes_grouped_with_owner_next_step_clusters_and_readiness(cache: Path) -> None:
    at = open_page("pushes")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Failed or unknown"] == "3"
    assert metrics["Look ready to retry"] == "1"  # push 4 failed transiently, but its section is not synced
    groups = table(at, 0)
    matched = groups[groups["label"] == "Student not matched in the LMS"].iloc[0]
    # the effective owner, as push 1's own row below says: its section is not synced yet, so Clever support acts
    # first (the category's static owner, the district, comes after)
    assert matched["owner"] == "Clever support" and "section" in matched["next_step"].lower()
    clusters = table(at, 1)
    outage = clusters[clusters["error"] == "Service Unavailable"].iloc[0]
    assert outage["districts"] == 2 and outage["pushes"] == 2
    assert outage["scope"] == "2 districts: likely a Clever or LMS outage"
    pushes = table(at, 2)
    assert set(pushes["Push"]) == {1, 2, 4}
    ready = {push: list(label) for push, label in zip(pushes["Push"], pushes["Ready"], strict=True)}
    assert (ready[1], ready[2], ready[4]) == (["blocked"], ["ready"], ["blocked"])
    # each push's owner is the readiness check's: a ready push is ours to retry; push 4's transient failure
    # no longer matters, its unsynced section (Clever support's step) does
    owners = dict(zip(pushes["Push"], pushes["Owner"], strict=True))
    assert (owners[2], owners[4]) == ("Us (partner)", "Clever support")
    assert owners[1] == matched["owner"]  # the table by category and owner agrees with the rows
    transient = groups[groups["label"] == Category.TRANSIENT.label]
    assert sorted(transient["owner"]) == ["Clever support", "Us (partner)"] and list(transient["pushes"]) == [1, 1]
    assert "Grace Hopper" not in set(pushes["Student"])
    at.toggle(key="pushes_ready_only").set_value(True).run()
    assert set(table(at, 2)["Push"]) == {2}


def test_attempt_details_are_masked_until_revealed_and_the_reveal_is_audited(cache: Path) -> None:
    at = open_page("pushes")
    position = list(table(at, 2)["Push"]).index(1)
    at.session_state["pushes_table"] = {"selection": {"rows": [position], "columns": [], "cells": []}}
    at.run()
    assert "G. H." in texts(at) and "g•••@riverside.example.org" in texts(at)
    assert "Grace Hopper" not in texts(at)
    payload = str(at.json[0].value)
    assert "@riverside.example.org" in payload and "grace.hopper" not in payload
    at.button(key="reveal_1").click().run()
    assert "Grace Hopper" in texts(at)
    with connect(cache) as db:
        reveals = list(db.query("SELECT actor, target FROM audit_log WHERE action = 'reveal'"))
    assert reveals == [{"actor": "test@example.com", "target": "user:u-un1"}]


def test_retry_asks_for_confirmation_and_cancel_does_nothing(cache: Path) -> None:
    at = open_page("pushes")
    at.session_state["pushes_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="pushes_retry_selected").click().run()
    assert "Retry 1 push (push " in texts(at)
    assert at.button(key="pushes_retry_yes").label == "Retry 1 push"
    at.button(key="pushes_retry_no").click().run()
    assert "Retry 1 push (" not in texts(at)
    assert at.button(key="pushes_retry_selected").disabled  # "Don't retry" also clears the selection
    with connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM push_attempts").fetchone()[0] == 4


# ------------------------------------------------------------------------------- Sync log, invitations, audit


def test_sync_log_runs_per_district_outcomes_events_and_transitions(cache: Path) -> None:
    at = open_page("sync")
    assert list(table(at, 0)["outcome"]) == ["partial"]
    per_district = table(at, 1)
    failed = per_district[per_district["outcome"] == "failed"].iloc[0]
    assert failed["district"] == "Lakeview Public Schools" and "503" in failed["error"]
    assert "1 district did not sync" in texts(at)
    assert list(table(at, 2)["type"]) == ["users.updated"]
    changes = table(at, 3)
    assert "LMS state matching in progress → error" in set(changes["change"])
    assert "yes" in set(changes[changes["district"] == "Lakeview Public Schools"]["worse"])


def test_invitations_list_inbound_and_refused_sends_in_plain_words(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_URL", "smtp://127.0.0.1:9")  # never reached: the address is refused first
    at = open_page("invitations")
    rows = table(at, 0)
    assert list(rows["state"]) == ["sent"] and list(rows["email"]) == ["it@d-new.example.org"]
    inbound = table(at, 1)
    assert list(inbound["name"]) == ["Pine Ridge Academy"]
    # only districts `can_invite` allows are offered (connected and setting-up ones never are)
    assert set(at.selectbox(key="invite_district").options) == {"Quiet Hollow Schools · d-quiet — not connected",
                                                                "Cedar Falls District · d-new — not connected, "
                                                                "invitation open"}
    # refusals come back as sentences, and the page stays usable
    at.selectbox(key="invite_district").set_value("d-quiet").run()
    assert at.text_input(key="invite_to_d-quiet").value == "it@d-quiet.example.org"
    at.text_input(key="invite_to_d-quiet").input("not-an-address")
    next(b for b in at.button if b.label == "Send invitation").click().run()
    assert_no_error(at)
    assert "'not-an-address' is not a valid e-mail address" in texts(at)
    assert list(table(at, 0)["state"]) == ["sent"]  # nothing new was recorded as sent


def test_audit_log_lists_and_filters(cache: Path) -> None:
    at = open_page("audit")
    assert list(table(at)["action"]) == ["invite"]
    at.text_input(key="audit_search").input("nothing-like-this").run()
    assert "No entry matches" in texts(at)


# ------------------------------------------------------------------------------------------ Errors in plain words


def test_wrong_configuration_is_explained(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEVER_CLIENT_ID", "only-the-id")
    monkeypatch.delenv("CLEVER_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("LMSDATA_DB", str(db_path))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception
    assert "CLEVER_CLIENT_SECRET is not set" in at.error[0].value


def test_missing_cache_with_credentials_says_to_sync(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _real_mode(monkeypatch, db_path)
    at = app().run()
    assert not at.exception
    assert "lmsdata sync --full" in at.warning[0].value
    assert not db_path.exists()


def test_first_pull_from_the_page_when_there_is_no_cache(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """With real credentials (here: the sandbox on loopback) and no cache, one click fills it."""
    for name, value in {"LMSDATA_DB": str(settings.db_path), "CLEVER_CLIENT_ID": settings.client_id,
                        "CLEVER_CLIENT_SECRET": settings.client_secret, "CLEVER_API_URL": settings.api_url,
                        "CLEVER_OAUTH_URL": settings.oauth_url, "LMSDATA_OPERATORS": ADMIN_EMAIL}.items():
        monkeypatch.setenv(name, value)
    at = app(timeout=60).run()
    at.button(key="first_sync").click().run()
    assert_no_error(at)
    assert at.title[0].value == "Overview"
    assert len(table(at)) == 12
    assert "Demo mode" not in texts(at)
    with connect(settings.db_path) as db:
        assert db.execute("SELECT actor FROM sync_runs").fetchall() == [("test@example.com",)]


def test_damaged_cache_is_explained(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database" * 100)
    _real_mode(monkeypatch, db_path)
    for page in (None, "district", "pushes"):
        at = app().run()
        if page:
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert "cannot be read" in at.error[0].value and "lmsdata sync --full" in at.error[0].value


def test_a_district_with_three_problems_shows_all_three(cache: Path) -> None:
    with connect(cache) as db, db.conn:  # stale LMS sync, matching below target and a failed pull at once
        db.execute("UPDATE districts SET last_lms_sync = ?, last_sync_error = 'HTTP 503 from Clever' "
                   "WHERE id = 'd-below'", [at_time(days=8)])
        bump_data_version(db)
    at = open_page("district", district="d-below")
    problems = next(d.value for d in at.dataframe if "What we see" in d.value.columns)
    seen = " | ".join(problems["What we see"])
    assert "8 days ago" in seen and "HTTP 503 from Clever" in seen and "60% of students matched" in seen
    assert {"Action needed", "Stale", "Matching below target"} <= set(problems["Problem"])
    assert all(problems["Next step"].str.len() > 0)
    overview = open_page()
    row = table(overview).set_index("District").loc["Riverside Unified"]
    assert {"Action needed ×2", "Stale ×2", "Matching below target ×3"} == set(row["Problems"].split(" · "))


def test_filters_search_and_sort_live_in_the_url_and_a_copied_url_reopens_the_view(cache: Path) -> None:
    at = open_page()
    at.multiselect(key="overview_status").set_value(["action_needed", "below_target"]).run()
    at.text_input(key="overview_search").set_value("river").run()
    assert at.query_params["status"] == ["action_needed", "below_target"] and at.query_params["q"] == "river"
    reopened = app()  # a new session, as a colleague opening the copied link
    for key in at.query_params:
        reopened.query_params[key] = at.query_params[key]
    reopened.run()
    assert list(table(reopened)["District"]) == list(table(at)["District"]) == ["Riverside Unified"]
    assert reopened.text_input(key="overview_search").value == "river"


def test_a_push_deep_link_opens_that_push(cache: Path) -> None:
    at = open_page("pushes", push="1")
    assert "**Push 1** · " in "\n".join(m.value for m in at.markdown)
    at = open_page("pushes", push="not-a-push")
    assert "**Push " not in "\n".join(m.value for m in at.markdown)


def test_a_district_without_an_lms_does_not_say_its_sections_are_synced(cache: Path) -> None:
    at = open_page("district", district="d-new")
    assert "Every section is synced in the LMS." not in texts(at)
    assert "No LMS is connected yet, so no section is synced" in texts(at)
    synced = open_page("district", district="d-healthy")
    assert "Every section is synced in the LMS." in texts(synced)


def reopen(at: AppTest, page: str) -> AppTest:
    """The URL `at` shows now, opened in a new session (a colleague clicking the copied link)."""
    fresh = app()
    fresh.run()
    fresh.switch_page(f"pages/{page}.py")
    for key in at.query_params:
        fresh.query_params[key] = at.query_params[key]
    fresh.run()
    assert_no_error(fresh)
    return fresh


def test_unmatched_filters_and_search_live_in_the_url(cache: Path) -> None:
    at = open_page("unmatched")
    at.multiselect(key="unmatched_district").set_value(["d-below"]).run()
    at.multiselect(key="unmatched_school").set_value(["d-below-sch"]).run()
    at.multiselect(key="unmatched_role").set_value(["student"]).run()
    at.text_input(key="unmatched_search").input("S201").run()
    assert [at.query_params[p] for p in ("district", "role", "q")] in (
        [["d-below"], ["student"], ["S201"]], ["d-below", "student", "S201"])
    again = reopen(at, "unmatched")
    assert list(table(again, 0)["last_name"]) == list(table(at, 0)["last_name"]) == ["T."]
    assert again.multiselect(key="unmatched_school").value == ["d-below-sch"]
    assert again.multiselect(key="unmatched_role").value == ["student"]
    at.multiselect(key="unmatched_role").set_value(["student", "teacher"]).run()
    assert "role" not in at.query_params  # the default stays out of the URL


def test_audit_and_invitation_filters_live_in_the_url(cache: Path) -> None:
    at = open_page("audit")
    at.multiselect(key="audit_action").set_value(["invite"]).run()
    at.text_input(key="audit_search").input("nothing-like-this").run()
    again = reopen(at, "audit")
    assert again.multiselect(key="audit_action").value == ["invite"]
    assert "No entry matches" in texts(again)
    invitations = open_page("invitations")
    invitations.multiselect(key="invitations_state").set_value(["sent"]).run()
    assert reopen(invitations, "invitations").multiselect(key="invitations_state").value == ["sent"]


def test_a_sync_run_link_opens_that_run(cache: Path) -> None:
    with connect(cache) as db:
        db.table("sync_runs").insert({"id": 2, "started_at": at_time(minutes=1), "finished_at": at_time(minutes=1),
                                      "mode": "incremental", "outcome": "success", "districts_total": 0,
                                      "districts_failed": 0, "requests": 0, "records": 0, "actor": "cli"})
        bump_data_version(db)
    at = open_page("sync", run="1")
    assert "**Run #1, per district**" in "\n".join(m.value for m in at.markdown)
    at = open_page("sync")
    assert "**Run #2, per district**" in "\n".join(m.value for m in at.markdown)
    assert "run" not in at.query_params  # the newest run is the default


def test_times_are_relative_with_the_exact_local_time_beside(cache: Path) -> None:
    pushes = open_page("pushes")
    rows = table(pushes, 2)
    assert rows["updated_at"].str.fullmatch(r"just now|\d+ (min|h|days) ago").all()  # "Last attempt", not ISO
    assert rows["updated_at__local"].notna().all()
    labels = column_labels(pushes, 2)
    assert (labels["updated_at"], labels["updated_at__local"]) == ("Last attempt", "Last attempt (local)")
    overview = table(open_page())
    lakeview = overview.set_index("District").loc["Lakeview Public Schools"]
    # the fixture's times are relative to when the test module loaded: minutes may have passed since
    assert lakeview["last_lms_sync"] == "9 days ago" and re.fullmatch(r"\d+ min ago", lakeview["last_pulled_at"])
    assert overview.set_index("District").loc["Cedar Falls District", "last_lms_sync"] == ""  # empty, not "None"
    runs = open_page("sync")
    assert table(runs, 0)["started_at"].str.endswith("ago").all()


def column_labels(at: AppTest, index: int) -> dict[str, str]:
    """Each column's header as the browser shows it (its column_config label, else its name)."""
    config = json.loads(at.dataframe[index].proto.columns or "{}")
    frame = table(at, index)
    return {c: (config.get(f"col:name:{c}") or config.get(c) or {}).get("label") or c for c in frame.columns}


@pytest.mark.parametrize("page", ["overview", "pushes", "sync", "audit", "invitations", "unmatched", "district"])
def test_no_table_header_is_a_raw_column_name(cache: Path, page: str) -> None:
    at = open_page(None if page == "overview" else page, **({"district": "d-below"} if page == "district" else {}))
    assert len(at.dataframe) > 0
    for index in range(len(at.dataframe)):
        raw = [label for label in column_labels(at, index).values() if "_" in label or label != label.strip()
               or (label[:1].islower() and label[:1].isalpha())]
        assert not raw, (page, index, raw)
        frame = table(at, index)
        blank = [c for c in frame.columns if not str(c).endswith("__local")  # an exact-time column may be empty
                 and (frame[c].dtype == object or str(frame[c].dtype) in ("str", "string", "Int64"))
                 and frame[c].map(lambda v: v is None or v is pd.NA or (isinstance(v, float) and v != v)).any()]
        assert not blank, (page, index, "cells that would read None", blank)


def test_a_push_detail_names_the_owner_its_row_shows(cache: Path) -> None:
    """Push 4 failed transiently (the category says: nobody, wait) but its section is not synced: its details,
    like its row, say Clever support acts now."""
    at = open_page("pushes", push="4")
    shown = "\n".join(m.value for m in at.markdown)
    row = table(at, 2).set_index("Push").loc[4]
    assert row["Owner"] == "Clever support" and "owner now: Clever support" in shown
