"""The term readiness board through AppTest: a ready, an at-risk and a mid-rollover (not ready) district."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st

from lmsdata import terms
from lmsdata.db import connect
from tests.test_pages import _real_mode, app, navigate, table
from tests.ui_fixtures import build_cache

TODAY = datetime.now(UTC).date()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat() + "T00:00:00.000Z"


# district: (term start offset in days, sections, synced) for the current term; next term offsets
ROLLOVER = {
    "d-healthy": ((-40, 4, 4), None),               # ready
    "d-below": ((-3, 4, 2), None),               # at risk: term just started, half synced
    "d-error": ((-20, 4, 1), (10, 3, 0)),           # mid-rollover: weeks in, most sections unsynced
}


@pytest.fixture
def cache(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    build_cache(db_path)
    with connect(db_path) as db, db.conn:
        db.execute("DELETE FROM terms")
        db.execute("DELETE FROM sections")
        for did, (current, following) in ROLLOVER.items():
            for n, spec in enumerate((current, following)):
                if spec is None:
                    continue
                start, count, synced = spec
                tid = f"{did}-term{n}"
                db.table("terms").insert({"id": tid, "district_id": did, "name": f"Term {n + 1}",
                                          "start_date": day(start), "end_date": day(start + 120)})  # fmt: skip
                for k in range(count):
                    db.table("sections").insert({"id": f"{tid}-s{k}", "district_id": did, "term_id": tid,
                                                 "name": f"Section {k}", "synced_in_lms": int(k < synced)})  # fmt: skip
            terms.store_figures(db, did)  # as a sync of the district would
    _real_mode(monkeypatch, db_path)
    st.cache_data.clear()
    yield db_path
    st.cache_data.clear()


def test_board_grades_the_three_districts_riskiest_first_and_filters_from_the_url(cache: Path) -> None:
    at = navigate(app(), "readiness")
    rows = table(at)
    grades = dict(zip(rows["District"], [g[0] for g in rows["Grade"]], strict=True))
    with connect(cache) as db:
        names = {r["id"]: r["name"] for r in db.query("SELECT id, name FROM districts")}
    assert grades[names["d-healthy"]] == "ready"
    assert grades[names["d-below"]] == "at risk"
    assert grades[names["d-error"]] == "not ready"
    assert next(g[0] for g in rows["Grade"]) == "not ready"  # sorted by risk
    stale = rows[rows["District"] == names["d-error"]].iloc[0]
    assert stale["Days in"] == 20 and stale["Sections synced %"] == 25.0 and stale["Next synced %"] == 0.0
    assert "20 days after the term started" in stale["Reason"]

    filtered = navigate(app(), "readiness", grade="not ready")
    assert list(table(filtered)["District"]) == [names["d-error"]]


def test_overview_shows_lti_launch_per_district(cache: Path) -> None:
    at = app().run()
    rows = table(at)
    by_lms = dict(zip(rows["LMS"], rows["LTI launch"], strict=False))
    assert by_lms.get("Canvas") == "available"
    assert by_lms.get("Google Classroom", "not available") == "not available"


@pytest.mark.parametrize(("page", "button"), [("sync", "sync_all_button"), ("pushes", "pushes_retry_ready")])
def test_bulk_confirmations_show_the_request_budget(cache: Path, page: str, button: str) -> None:
    at = navigate(app(), page)
    at.button(key=button).click().run()
    shown = "\n".join(t.value for t in at.text)
    assert "requests over" in shown and "busiest" in shown and "1,200/min" in shown, shown


def test_demo_board_has_a_mid_rollover_an_at_risk_and_a_ready_district(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_pages_actions import _demo_environment

    st.cache_data.clear()
    st.cache_resource.clear()
    _demo_environment(monkeypatch, tmp_path / "demo.db")
    try:
        at = navigate(app(timeout=60, auth=False), "readiness")
        rows = table(at).set_index("District")
        grade = {name: row["Grade"][0] for name, row in rows.iterrows()}
        assert grade["Franklin Unified School District"] == "not ready"  # mid-rollover: 12 days into a new term
        assert rows.loc["Franklin Unified School District", "Days in"] == 12
        assert rows.loc["Franklin Unified School District", "Current term"].startswith("New term")
        assert grade["Brattleboro Community Schools"] == "at risk"  # new term 3 days old, sections missing
        assert grade["Gary Independent School District"] == "ready"
    finally:
        st.cache_resource.clear()  # stops the demo's sandbox server and mail sink
        st.cache_data.clear()
