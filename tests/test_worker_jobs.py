"""The worker's sync job against the loopback sandbox: the lms_state regression rule opens once (one
notification queued), re-notifies once after renotify_hours, and resolves by itself when Clever shows success;
a refused token opens an alert that resolves when the district reconnects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lmsdata.db import connect
from lmsdata.worker.config import Channel, WorkerConfig
from lmsdata.worker.jobs import sync_and_evaluate
from tests.push_fixtures import Lab

CHANNEL = Channel("json://127.0.0.1:9/alerts", frozenset({"lms_state_regression"}))


def _alerts(lab: Lab) -> list[dict]:  # type: ignore[type-arg]
    with connect(lab.db_path) as db:
        return list(db.query("SELECT * FROM alerts WHERE rule = 'lms_state_regression' ORDER BY id"))


def _queued(lab: Lab) -> list[str]:
    with connect(lab.db_path) as db:
        return [r[0] for r in db.execute("SELECT event_key FROM outbox ORDER BY id").fetchall()]


def test_an_lms_state_regression_opens_once_and_resolves_after_clever_recovers(lab: Lab) -> None:
    clock = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    config = WorkerConfig(channels=(CHANNEL,))
    canvas = lab.district("success", "canvas")

    def run() -> str:
        clock[0] += timedelta(minutes=15)
        return sync_and_evaluate(lab.settings, config, lambda: clock[0], full=False)

    run()
    assert _alerts(lab) == [] and _queued(lab) == []
    lab.sandbox.set_lms_state(canvas, "error")
    assert "incremental sync run" in run()
    opened = _alerts(lab)
    assert [(a["subject"], a["state"]) for a in opened] == [(canvas, "open")]
    assert "lms_state is error after having been 'success'" in opened[0]["detail"]
    run()  # still broken, within renotify_hours: no second notification
    key = f"alert:{opened[0]['id']}"
    assert _queued(lab) == [f"{key}:opened"]
    clock[0] += timedelta(hours=6)  # renotify_hours later, still broken: notified again, once
    run()
    run()
    assert _queued(lab) == [f"{key}:opened", f"{key}:renotify:2"]

    lab.sandbox.set_lms_state(canvas, "success")
    run()
    resolved = _alerts(lab)[0]
    assert resolved["state"] == "resolved" and "resolved by itself" in resolved["resolution"]
    assert _queued(lab) == [f"{key}:opened", f"{key}:renotify:2", f"{key}:resolved"]


def test_a_refused_token_opens_an_alert_that_resolves_when_the_district_reconnects(lab: Lab) -> None:
    clock = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    canvas = lab.district("success", "canvas")

    def run() -> list[tuple[str, str]]:
        clock[0] += timedelta(minutes=15)
        sync_and_evaluate(lab.settings, WorkerConfig(), lambda: clock[0], full=False)
        with connect(lab.db_path) as db:
            return [(r["subject"], r["state"]) for r in db.query("SELECT * FROM alerts WHERE rule = 'token_refused'")]

    lab.sandbox.revoke_token(canvas)
    assert run() == [(canvas, "open")]
    lab.sandbox.restore_token(canvas)
    assert run() == [(canvas, "resolved")]
