"""The daily digest against the loopback sandbox: one notification a day (a restart does not queue a
second), saying what changed since the previous one: new alerts, districts whose lms_state changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lmsdata.db import connect
from lmsdata.worker.config import Channel, WorkerConfig
from lmsdata.worker.jobs import build_jobs, sync_and_evaluate
from lmsdata.worker.notify import deliver
from tests.push_fixtures import Lab
from tests.test_worker_alerts import Receiver, receiver  # noqa: F401  (the loopback webhook fixture)


def test_one_digest_a_day_with_what_changed_since_the_last(
    lab: Lab, receiver: tuple[Receiver, str]  # noqa: F811
) -> None:
    state, url = receiver
    config = WorkerConfig(channels=(Channel(url, frozenset({"digest"})), Channel(url, frozenset({"token_refused"}))))
    start = datetime.now(UTC)  # the cache's pull times are the real clock's
    clock = [start]
    digest = build_jobs(lab.settings, config, lambda: clock[0])["digest"]

    assert "queued for 1 channel" in digest.step()
    assert "already queued" in digest.step()  # the worker restarted and ran it again: still one
    with connect(lab.db_path) as db:
        deliver(db, config.channels, clock[0])
    assert len(state.received) == 1 and "Nothing else changed" in state.received[0]["message"]

    canvas = lab.district("success", "canvas")
    lab.sandbox.set_lms_state(canvas, "error")
    clock[0] = start + timedelta(minutes=1)
    sync_and_evaluate(lab.settings, config, lambda: clock[0], full=False)

    with connect(lab.db_path) as db:
        opened = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]  # the tiny world trips other rules too
    clock[0] = start + timedelta(days=1)
    assert f"{opened} new alerts, 0 resolved, 1 district changed" in digest.step()
    digest.step()
    with connect(lab.db_path) as db:
        deliver(db, config.channels, clock[0])
        keys = [r[0] for r in db.execute("SELECT event_key FROM outbox WHERE event_key LIKE 'digest:%'")]
    assert keys == [f"digest:{start.date()}", f"digest:{clock[0].date()}"]
    [_first, second] = state.received
    body = second["message"]
    assert second["title"].startswith(f"Daily digest {clock[0].date()}: {opened} new alerts")
    assert f"lms_state_regression ({canvas})" in body and f"({canvas}): lms_state success -> error" in body
