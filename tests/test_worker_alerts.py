"""Alerts open once, re-notify on schedule, resolve by themselves; the outbox delivers each event exactly once
to a real webhook receiver on loopback, even when it answers 500 first."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lmsdata.db import connect
from lmsdata.worker.alerts import reconcile
from lmsdata.worker.config import Channel
from lmsdata.worker.notify import deliver

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = ["lms_state_regression"]


class Receiver:
    def __init__(self) -> None:
        self.accepted: list[dict] = []
        self.fail_next = 0


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state.fail_next:
                state.fail_next -= 1
                self.send_response(500)
            else:
                state.accepted.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"json://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()
        server.server_close()


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
