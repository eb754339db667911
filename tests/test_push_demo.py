"""The demo's push history: realistic failures from the sandbox itself, some of them retryable after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lmsdata import queries
from lmsdata.client import CleverClient
from lmsdata.config import Settings
from lmsdata.db import connect
from lmsdata.pushes import generate_demo_traffic, retry_pushes
from lmsdata.sandbox import Sandbox, serve
from lmsdata.sync import sync
from tests.push_fixtures import CLIENT_ID, CLIENT_SECRET

EXPECTED_CATEGORIES = {
    "student_not_matched", "section_not_synced", "schoology_not_launched", "district_not_ready",
    "district_lms_error", "assignment_deleted", "assignment_not_created", "payload_invalid", "transient",
}  # fmt: skip


def test_demo_traffic_has_a_realistic_history_and_some_retryable_failures(db_path: Path) -> None:
    sandbox = Sandbox(seed=7, scale="demo", faults="none", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    server = serve(sandbox, host="127.0.0.1", port=0)
    settings = Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=server.url,
                        oauth_url=server.url, db_path=db_path)  # fmt: skip
    now = datetime.now(UTC)
    try:
        with CleverClient.from_settings(settings) as client:
            sync(client, db_path, full=True)
            traffic = generate_demo_traffic(client, sandbox, db_path, now=now)
            assert traffic.by_state["sent"] > traffic.by_state["failed"] > 0
            assert set(traffic.by_category) == EXPECTED_CATEGORIES
            assert traffic.by_state["superseded"] > 0  # re-graded students
            assert len(traffic.made_retryable) >= 3

            with connect(db_path) as db:
                first, last = db.execute("SELECT MIN(created_at), MAX(created_at) FROM pushes").fetchone()
                attempts_last = db.execute("SELECT MAX(started_at) FROM push_attempts").fetchone()[0]
            assert first < (now - timedelta(days=4)).isoformat() and last < now.isoformat()  # a past week
            assert attempts_last < now.isoformat()

            sync(client, db_path)  # the cache sees what was fixed in Clever, as the dashboard would
            with connect(db_path) as db:
                looks = queries.failed_pushes(db, limit=None).set_index("id")
            looks_ready = set(looks.index[looks["ready"] == 1])
            preview = retry_pushes(client, db_path, all_failed=True, dry_run=True)
            ready = {i.push_id for i in preview.items if i.outcome == "ready"}
            report = retry_pushes(client, db_path, all_failed=True)
    finally:
        server.close()
    sent = {i.push_id for i in report.items if i.outcome == "sent"}
    assert ready and sent and ready <= {i.push_id for i in report.items if i.outcome in ("sent", "failed")}
    # What the dashboard marks ready is never refused for a condition the cache already showed.
    refused = {i.push_id: i.reason for i in report.items if i.push_id in looks_ready and i.outcome == "skipped"}
    assert looks_ready and not refused
    assert looks_ready <= ready | {i.push_id for i in preview.items if i.outcome == "sent"}
    assert report.counts["skipped"] > len(sent)  # most failures still wait for a district or Clever support
