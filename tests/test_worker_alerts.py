"""Alerts open once, re-notify on schedule, resolve by themselves; the outbox delivers each event exactly once
to a real webhook receiver on loopback, even when it answers 500 first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata.db import connect
from lmsdata.worker.alerts import reconcile
from lmsdata.worker.config import Channel
from lmsdata.worker.notify import deliver
from tests.webhook_receiver import Receiver, webhook_receiver

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = ["lms_state_regression"]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with webhook_receiver() as state:
        yield state, state.url


def test_an_alert_reaches_a_receiver_that_fails_first_exactly_once_per_event(
    db_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    channels = [Channel(url)]
    found = {("lms_state_regression", "d1"): "lms_state went from success to error"}
    with connect(db_path) as db:
        state.fail_next = 1
        reconcile(db, found, rules=RULES, now=NOW, renotify_hours=6, channels=channels)
        assert deliver(db, channels, NOW) == 0  # the receiver answered 500
        assert deliver(db, channels, NOW + timedelta(seconds=30)) == 0  # not due again yet
        reconcile(db, found, rules=RULES, now=NOW + timedelta(minutes=2), renotify_hours=6, channels=channels)
        assert deliver(db, channels, NOW + timedelta(minutes=2)) == 1
        assert deliver(db, channels, NOW + timedelta(minutes=3)) == 0
        assert [m["title"] for m in state.accepted] == ["Alert: lms_state_regression (d1)"]

        reconcile(db, found, rules=RULES, now=NOW + timedelta(hours=6, minutes=1), renotify_hours=6, channels=channels)
        deliver(db, channels, NOW + timedelta(hours=6, minutes=1))
        reconcile(db, {}, rules=RULES, now=NOW + timedelta(hours=7), renotify_hours=6, channels=channels)
        deliver(db, channels, NOW + timedelta(hours=7))
        alert = next(db.query("SELECT state, resolution, notifications FROM alerts"))
        outbox = db.execute("SELECT channel, body FROM outbox").fetchall()
    assert [m["title"] for m in state.accepted] == [
        "Alert: lms_state_regression (d1)", "Still open: lms_state_regression (d1)",
        "Resolved: lms_state_regression (d1)"]
    assert alert["state"] == "resolved" and alert["resolution"].startswith("resolved by itself")
    assert all("127.0.0.1" not in row[0] for row in outbox)  # the cache holds a hash, not the URL
