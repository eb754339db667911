"""An alert's life: opens once per (rule, subject), re-notifies at most every N hours, resolves by itself.

`reconcile` takes what the rules found this cycle and is the one place that opens, re-notifies and
resolves; each of those is an event queued in the outbox for the channels that receive its rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import sqlite_utils

from lmsdata.pushes.log import iso, parse_time, write_transaction
from lmsdata.redact import redact
from lmsdata.worker.config import Channel

Finding = tuple[str, str]  # (rule, subject)


def channel_key(channel: Channel) -> str:
    """What the cache stores for a channel: a hash, never the URL (it holds a secret)."""
    return hashlib.sha256(channel.url.encode()).hexdigest()[:16]


def reconcile(
    db: sqlite_utils.Database,
    found: Mapping[Finding, str],
    *,
    rules: Sequence[str],
    now: datetime,
    renotify_hours: float,
    channels: Sequence[Channel],
) -> None:
    """Open what is newly found, re-notify what stays open past the interval, resolve what cleared."""
    with write_transaction(db):
        open_rows = {(r["rule"], r["subject"]): r for r in db.query("SELECT * FROM alerts WHERE state = 'open'")}
        for key, detail in found.items():
            row = open_rows.get(key)
            if row is None:
                alert_id = int(db.execute(
                    "INSERT INTO alerts (rule, subject, state, detail, opened_at, last_seen_at, last_notified_at, "
                    "notifications) VALUES (?, ?, 'open', ?, ?, ?, ?, 1)",
                    [key[0], key[1], redact(detail), iso(now), iso(now), iso(now)],
                ).lastrowid or 0)
                _queue(db, f"alert:{alert_id}:opened", key[0], f"Alert: {key[0]} ({key[1]})", detail, now, channels)
                continue
            db.execute("UPDATE alerts SET detail = ?, last_seen_at = ? WHERE id = ?",
                       [redact(detail), iso(now), row["id"]])
            quiet = row["snoozed_until"] and parse_time(row["snoozed_until"]) > now
            due = parse_time(row["last_notified_at"]) + timedelta(hours=renotify_hours) <= now
            if due and not quiet and not row["acked_by"]:
                count = int(row["notifications"]) + 1
                db.execute("UPDATE alerts SET last_notified_at = ?, notifications = ? WHERE id = ?",
                           [iso(now), count, row["id"]])
                _queue(db, f"alert:{row['id']}:renotify:{count}", key[0], f"Still open: {key[0]} ({key[1]})",
                       detail, now, channels)
        for key, row in open_rows.items():
            if key in found or key[0] not in rules:
                continue
            why = f"resolved by itself: the condition cleared ({row['detail']})"
            db.execute("UPDATE alerts SET state = 'resolved', resolved_at = ?, resolution = ? WHERE id = ?",
                       [iso(now), why, row["id"]])
            _queue(db, f"alert:{row['id']}:resolved", key[0], f"Resolved: {key[0]} ({key[1]})", why, now, channels)


def _queue(db: sqlite_utils.Database, event_key: str, rule: str, title: str, body: str, now: datetime,
           channels: Sequence[Channel]) -> None:
    for channel in channels:
        if channel.receives(rule):
            db.execute(
                "INSERT OR IGNORE INTO outbox (event_key, channel, title, body, created_at, state, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                [event_key, channel_key(channel), redact(title), redact(body), iso(now), iso(now)],
            )
