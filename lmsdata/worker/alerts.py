"""An alert's life: opens once per (rule, subject), re-notifies at most every N hours, resolves by itself.

`reconcile` takes what the rules found this cycle and is the one place that opens, re-notifies and
resolves; each of those is an event queued in the outbox for the channels that receive its rule.
An operator can acknowledge an alert (no more re-notifications; its resolution still notifies) or
snooze it until a time (no re-notification before then); both are checked and audited here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata.access import Actor, Permission
from lmsdata.audit import authorize, record
from lmsdata.db import bump_data_version, connect
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


class AlertError(ValueError):
    """An alert that cannot be acknowledged or snoozed as asked; the message says why."""


STATES = ("open", "resolved")


def list_alerts(
    db: sqlite_utils.Database, *, state: str | None = None, rule: str | None = None, subject: str | None = None,
    alert_id: int | None = None, limit: int = 1000,
) -> list[dict[str, Any]]:
    """Alerts newest first, optionally filtered (open ones before resolved ones)."""
    where, args = [], []
    for column, value in (("state", state), ("rule", rule), ("subject", subject), ("id", alert_id)):
        if value not in (None, ""):
            where.append(f"{column} = ?")
            args.append(value)
    sql = "SELECT * FROM alerts" + (f" WHERE {' AND '.join(where)}" if where else "")
    return list(db.query(sql + " ORDER BY state = 'resolved', opened_at DESC, id DESC LIMIT ?", [*args, limit]))


def acknowledge(db_path: str | Path, actor: Actor, alert_id: int, now: datetime) -> None:
    """Someone is on it: no more re-notifications for this alert (its resolution still notifies)."""
    _change(db_path, actor, "alert-ack", alert_id, now, acked_by=None, acked_at=iso(now))


def snooze(db_path: str | Path, actor: Actor, alert_id: int, until: datetime, now: datetime) -> None:
    """No re-notification before `until` (then the usual schedule resumes); resolution still notifies."""
    if until <= now:
        raise AlertError(f"Snooze until a time in the future; {iso(until)} is not after {iso(now)}.")
    _change(db_path, actor, "alert-snooze", alert_id, now, snoozed_until=iso(until))


def _change(db_path: str | Path, actor: Actor, action: str, alert_id: int, now: datetime, **fields: Any) -> None:
    target = f"alert:{alert_id}"
    name = authorize(db_path, actor, Permission.CASEWORK, action=action, target=target,
                     params={k: v for k, v in fields.items() if v is not None})
    if "acked_by" in fields:
        fields["acked_by"] = name
    why = None
    with connect(db_path) as db, write_transaction(db):
        rows = list(db.query("SELECT state FROM alerts WHERE id = ?", [alert_id]))
        if not rows or rows[0]["state"] != "open":
            why = "does not exist" if not rows else "is already resolved"
            record(db, actor=name, action=action, target=target, outcome="failed", params=fields,
                   detail=f"alert {alert_id} {why}")
        else:
            sets = ", ".join(f"{column} = ?" for column in fields)
            db.execute(f"UPDATE alerts SET {sets} WHERE id = ?", [*fields.values(), alert_id])
            record(db, actor=name, action=action, target=target, outcome="ok", params=fields)
            bump_data_version(db)
    if why:
        raise AlertError(f"Alert {alert_id} {why}; only an open alert can be acknowledged or snoozed.")


def worker_reconcile(
    db: sqlite_utils.Database, detail: str | None, *, now: datetime, renotify_hours: float,
    channels: Sequence[Channel],
) -> None:
    """The worker-silent alert alone: open (or keep open) with `detail`, or resolve when None."""
    from lmsdata.worker.rules import WORKER_RULE, WORKER_SUBJECT

    found = {(WORKER_RULE, WORKER_SUBJECT): detail} if detail else {}
    reconcile(db, found, rules=[WORKER_RULE], now=now, renotify_hours=renotify_hours, channels=channels)
