"""The dashboard queues long actions for the worker (AppTest, on the small hand-made cache; no worker runs):
"Sync all now" and a retry of several pushes become jobs the panel shows with who asked and the estimate,
a single push is still retried at once, the sidebar counts waiting jobs, and Cancel cancels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

from lmsdata import jobqueue
from lmsdata.db import connect
from lmsdata.ui import safe
from tests.test_pages import _real_mode, app, navigate, select_rows, texts
from tests.ui_fixtures import ADMIN_EMAIL, build_cache


@pytest.fixture
def cache(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    build_cache(db_path)
    _real_mode(monkeypatch, db_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield db_path
    st.cache_data.clear()
    st.cache_resource.clear()


def queued(db_path: Path) -> list[dict]:  # type: ignore[type-arg]
    with connect(db_path) as db:
        return list(db.query("SELECT * FROM queued_jobs ORDER BY id"))


def test_sync_all_now_queues_a_job_and_the_panel_shows_it(cache: Path) -> None:
    at = navigate(app(), "sync")
    assert "No job queued yet" in texts(at)
    at.button(key="sync_all_button").click().run()
    at.button(key="sync_all_yes").click().run()
    assert not at.exception
    [job] = queued(cache)
    assert (job["kind"], job["state"], job["requested_by"]) == ("sync_all", "queued", ADMIN_EMAIL)
    assert job["estimate_requests"] > 0
    shown = texts(at)
    assert f"Sync all districts: queued as job #{job['id']}" in shown
    assert f"Job #{job['id']} · Sync all districts** · waiting for the worker" in shown
    assert any(f"Requested by {who} at {job['requested_at']}" in shown for who in (ADMIN_EMAIL, safe.text(ADMIN_EMAIL)))
    assert f"estimated {job['estimate_requests']:,} requests" in shown
    assert "jobs: 1 waiting" in shown  # the sidebar
    with connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM sync_runs WHERE actor = ?", [ADMIN_EMAIL]).fetchone()[0] == 0


def test_retrying_several_pushes_queues_one_job_and_cancel_cancels_it(cache: Path) -> None:
    at = navigate(app(), "pushes")
    select_rows(at, "pushes_table", [0, 1])
    at.button(key="pushes_retry_selected").click().run()
    assert "It runs in the worker" in texts(at)
    at.button(key="pushes_retry_yes").click().run()
    [job] = queued(cache)
    assert job["kind"] == "bulk_retry" and job["total"] == 2
    with connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM push_attempts WHERE trigger = 'retry'").fetchone()[0] == 0
    at.button(key=f"job_cancel_{job['id']}").click().run()
    assert not at.exception
    assert queued(cache)[0]["state"] == "cancelled"
    assert f"Job #{job['id']} · Retry 2 pushes** · cancelled" in texts(at)
    assert not [b for b in at.button if b.key == f"job_cancel_{job['id']}"]


def test_a_single_push_is_still_retried_at_once(cache: Path) -> None:
    at = navigate(app(), "pushes")
    select_rows(at, "pushes_table", [0])
    at.button(key="pushes_retry_selected").click().run()
    assert "It runs in the worker" not in texts(at)
    at.button(key="pushes_retry_yes").click().run()
    assert queued(cache) == []
    assert "could not start" in texts(at) or "Retry finished" in texts(at)  # Clever is unreachable here


def test_a_running_job_shows_progress_and_results_per_item(cache: Path) -> None:
    with connect(cache) as db:
        push_ids = [r[0] for r in db.execute("SELECT id FROM pushes WHERE state = 'failed' ORDER BY id LIMIT 3")]
    job_id = jobqueue.enqueue(cache, "bulk_retry", actor="ops@partner.example", push_ids=push_ids)
    assert jobqueue.claim(cache, "elsewhere:1:abc", jobqueue.parse_time("2099-01-01T00:00:00Z")) is not None
    with connect(cache) as db, db.conn:
        db.execute("UPDATE queued_job_items SET state = 'done', outcome = 'sent', reason = 'sent', "
                   "finished_at = '2099-01-01T00:00:01.000Z' WHERE job_id = ? AND item = ?", [job_id, str(push_ids[0])])
        db.execute("UPDATE queued_jobs SET done = 1 WHERE id = ?", [job_id])
    at = navigate(app(), "pushes")
    shown = texts(at)
    assert f"Job #{job_id} · Retry 3 pushes** · running" in shown
    assert "jobs: 1 running (#" in shown and ": 1 of 3)" in shown
    results = next(d.value for d in at.dataframe if list(d.value.columns)[:3] == ["item", "state", "outcome"])
    assert list(results["item"])[:1] == [str(push_ids[0])] and list(results["outcome"])[:1] == ["sent"]
    assert list(results["state"]).count("pending") == 2
