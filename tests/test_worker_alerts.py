"""Alerts open once, re-notify on schedule, resolve by themselves; the outbox delivers each event exactly once
to a real webhook receiver on loopback, even when it answers 500 first, and to a real SMTP sink; a send
interrupted by a kill is not repeated (unless the channel is at-least-once); two deliverers send once."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata.db import connect
from lmsdata.mail import MailSink
from lmsdata.worker.alerts import reconcile
from lmsdata.worker.config import Channel
from lmsdata.worker.notify import INTERRUPTED, INTERRUPTED_AFTER, apprise_send, deliver
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
        assert [m["title"] for m in state.received] == ["Alert: lms_state_regression (d1)"]

        reconcile(db, found, rules=RULES, now=NOW + timedelta(hours=6, minutes=1), renotify_hours=6, channels=channels)
        deliver(db, channels, NOW + timedelta(hours=6, minutes=1))
        reconcile(db, {}, rules=RULES, now=NOW + timedelta(hours=7), renotify_hours=6, channels=channels)
        deliver(db, channels, NOW + timedelta(hours=7))
        alert = next(db.query("SELECT state, resolution, notifications FROM alerts"))
        outbox = db.execute("SELECT channel, body FROM outbox").fetchall()
    assert [m["title"] for m in state.received] == [
        "Alert: lms_state_regression (d1)", "Still open: lms_state_regression (d1)",
        "Resolved: lms_state_regression (d1)"]
    assert alert["state"] == "resolved" and alert["resolution"].startswith("resolved by itself")
    assert all("127.0.0.1" not in row[0] for row in outbox)  # the cache holds a hash, not the URL


class Killed(BaseException):
    """What a kill -9 right after Apprise returned looks like to the code that would mark the row sent."""


def test_a_send_interrupted_after_apprise_returned_is_not_sent_again(
    db_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    channels = [Channel(url)]

    def send_then_die(channel: Channel, title: str, body: str) -> bool:
        assert apprise_send(channel, title, body)  # it really reached the receiver
        raise Killed

    with connect(db_path) as db:
        reconcile(db, {("failed_pushes", "d1"): "3 failed"}, rules=["failed_pushes"], now=NOW, renotify_hours=6,
                  channels=channels)
        with pytest.raises(Killed):
            deliver(db, channels, NOW, send=send_then_die)
        assert deliver(db, channels, NOW + timedelta(minutes=1)) == 0  # still claimed: nobody sends it
        assert deliver(db, channels, NOW + INTERRUPTED_AFTER + timedelta(minutes=1)) == 0
        row = next(db.query("SELECT state, last_error, attempts FROM outbox"))
    assert len(state.received) == 1
    assert (row["state"], row["last_error"], row["attempts"]) == ("unknown", INTERRUPTED, 1)


def test_an_at_least_once_channel_gets_an_interrupted_send_again(
    db_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    channels = [Channel(url, at_least_once=True)]

    def die_before_sending(channel: Channel, title: str, body: str) -> bool:
        raise Killed

    with connect(db_path) as db:
        reconcile(db, {("failed_pushes", "d1"): "3 failed"}, rules=["failed_pushes"], now=NOW, renotify_hours=6,
                  channels=channels)
        with pytest.raises(Killed):
            deliver(db, channels, NOW, send=die_before_sending)
        assert deliver(db, channels, NOW + INTERRUPTED_AFTER + timedelta(minutes=1)) == 1
    assert [m["title"] for m in state.received] == ["Alert: failed_pushes (d1)"]


def test_two_deliverers_at_once_send_a_row_once(db_path: Path, receiver: tuple[Receiver, str]) -> None:
    """The worker and `lmsdata alerts watch` may deliver at the same moment: the claim lets only one send."""
    state, url = receiver
    channels = [Channel(url)]
    inner: list[int] = []

    def send_while_another_delivers(channel: Channel, title: str, body: str) -> bool:
        with connect(db_path) as other:
            inner.append(deliver(other, channels, NOW))
        return apprise_send(channel, title, body)

    with connect(db_path) as db:
        reconcile(db, {("failed_pushes", "d1"): "3 failed"}, rules=["failed_pushes"], now=NOW, renotify_hours=6,
                  channels=channels)
        assert deliver(db, channels, NOW, send=send_while_another_delivers) == 1
    assert inner == [0] and len(state.received) == 1


def test_an_smtp_sink_as_an_apprise_mailto_channel_gets_each_notification_once(db_path: Path) -> None:
    with MailSink() as sink:
        port = sink.url.rsplit(":", 1)[1]
        channels = [Channel(f"mailto://127.0.0.1:{port}?from=alerts@example.org&to=ops@example.org")]
        found = {("unmatched_growing", "d1"): "unmatched students grew from 4 to 40"}
        with connect(db_path) as db:
            for minutes, now_found in ((0, found), (5, found), (6 * 60 + 1, found), (7 * 60, {})):
                at = NOW + timedelta(minutes=minutes)
                reconcile(db, now_found, rules=["unmatched_growing"], now=at, renotify_hours=6, channels=channels)
                deliver(db, channels, at)
                deliver(db, channels, at + timedelta(seconds=1))
        subjects = [m["Subject"] for m in sink.messages]
        assert subjects == ["Alert: unmatched_growing (d1)", "Still open: unmatched_growing (d1)",
                            "Resolved: unmatched_growing (d1)"]
        text = sink.messages[0].get_body(("plain",))
        assert text is not None and "grew from 4 to 40" in text.get_content()
        assert all(m["To"] == "ops@example.org" for m in sink.messages)


KILLED_SENDER = """
import os, signal, sys
from datetime import datetime
from lmsdata.db import connect
from lmsdata.worker.config import Channel
from lmsdata.worker.notify import apprise_send, deliver

def send_then_kill(channel, title, body):
    assert apprise_send(channel, title, body)
    os.kill(os.getpid(), signal.SIGKILL)  # after Apprise returned, before the row says sent

with connect(sys.argv[1]) as db:
    deliver(db, [Channel(sys.argv[2])], datetime.fromisoformat(sys.argv[3]), send=send_then_kill)
"""


def test_a_real_kill_9_inside_the_send_window_delivers_once(db_path: Path, receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    channels = [Channel(url)]
    with connect(db_path) as db:
        reconcile(db, {("failed_pushes", "d1"): "3 failed"}, rules=["failed_pushes"], now=NOW, renotify_hours=6,
                  channels=channels)
    done = subprocess.run([sys.executable, "-c", KILLED_SENDER, str(db_path), url, NOW.isoformat()],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    with connect(db_path) as db:
        for minutes in (1, 11, 30):  # the next deliveries, before and after the claim counts as interrupted
            deliver(db, channels, NOW + timedelta(minutes=minutes))
        row = next(db.query("SELECT state FROM outbox"))
    assert len(state.received) == 1 and row["state"] == "unknown"


@pytest.mark.parametrize(("url", "shown"), [
    ("json://hooks.example.com/s3cr3t", "json://hoo…com"),
    ("mailtos://user:p4ss@mail.example.org?to=ops@example.org", "mailtos://mai…org"),
    ("slack://T000/B000/XXXXSECRET", "slack://…"),  # Slack's first "host" part is a token
    ("json://127.0.0.1:8080/hook?token=abc", "json://127…080"),
])  # fmt: skip
def test_a_channel_is_shown_as_scheme_and_masked_host_only(url: str, shown: str) -> None:
    from lmsdata.worker.config import parse_worker_config

    channel = parse_worker_config({"channels": [{"url": url, "at_least_once": True}]}).channels[0]
    assert channel.display == shown and channel.at_least_once
    assert not any(secret in channel.display for secret in ("s3cr3t", "p4ss", "SECRET", "T000", "token", "user"))
