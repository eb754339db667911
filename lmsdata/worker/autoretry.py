"""Automatic retries of transient failures (429, 5xx, timeouts) on the configured backoff, then a person.

A failed push in the transient category gets an `auto_retries` row the first time the worker sees it;
when its step is due it goes through `retry_pushes` (which gates it again and sends only the newest
payload), and the row advances: sent, the next step, or handed to a person with the history in `note`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from lmsdata.client import CleverClient
from lmsdata.db import connect
from lmsdata.pushes.log import iso, write_transaction
from lmsdata.pushes.retry import RetryItem, RetryOptions, retry_pushes
from lmsdata.pushes.taxonomy import Category

ACTOR = "worker"
TRANSIENT = Category.TRANSIENT.slug


def register(db: sqlite_utils.Database, backoff_s: Sequence[float], now: datetime) -> int:
    """Start the schedule of every transient failure never followed; returns how many were added.

    A push handed to a person stays with the person: the worker does not pick it up again.
    """
    return db.execute(
        "INSERT OR IGNORE INTO auto_retries (push_id, attempts, next_at, state, note, updated_at) "
        "SELECT id, 0, ?, 'waiting', NULL, ? FROM pushes WHERE state = 'failed' AND category = ?",
        [iso(now + timedelta(seconds=backoff_s[0])), iso(now), TRANSIENT],
    ).rowcount


def due(db: sqlite_utils.Database, now: datetime) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT a.push_id FROM auto_retries a JOIN pushes p ON p.id = a.push_id AND p.state = 'failed' "
        "WHERE a.state = 'waiting' AND a.next_at <= ? ORDER BY a.next_at, a.push_id",
        [iso(now)],
    ).fetchall()]


def settle_finished(db: sqlite_utils.Database, now: datetime) -> int:
    """Close the schedule of pushes no longer failed (a worker killed after a send but before `advance`,
    or a person's retry in between); returns how many. Without it they would wait forever."""
    return db.execute(
        "UPDATE auto_retries SET state = CASE p.state WHEN 'sent' THEN 'sent' ELSE 'handed_off' END, "
        "next_at = NULL, note = 'no longer failed (now ' || p.state || '); nothing left to retry', updated_at = ? "
        "FROM pushes p WHERE p.id = auto_retries.push_id AND auto_retries.state = 'waiting' AND p.state != 'failed'",
        [iso(now)],
    ).rowcount


def advance(db: sqlite_utils.Database, item: RetryItem, backoff_s: Sequence[float], now: datetime) -> str:
    """Record one automatic attempt's outcome; returns the row's new state.

    A push skipped only because an interrupted run's write may still land at Clever keeps its step: the
    wait is the settle time, not a failed attempt, so a killed worker does not use up the schedule."""
    if item.recheck_at is not None:
        db.execute("UPDATE auto_retries SET next_at = ?, note = ?, updated_at = ? WHERE push_id = ?",
                   [item.recheck_at, item.reason[:500], iso(now), item.push_id])
        return "waiting"
    row = db.execute("SELECT attempts FROM auto_retries WHERE push_id = ?", [item.push_id]).fetchone()
    attempts = int(row[0]) + 1 if row else 1
    if item.outcome == "sent":
        state, next_at, note = "sent", None, f"sent by automatic attempt {attempts}"
    elif _time_may_fix(item) and attempts < len(backoff_s):
        state, next_at = "waiting", iso(now + timedelta(seconds=backoff_s[attempts]))
        note = f"automatic attempt {attempts} of {len(backoff_s)}: {item.outcome} ({item.reason}); next at {next_at}"
    elif _time_may_fix(item):
        state, next_at = "handed_off", None
        note = (f"handed to a person: still failing after {attempts} automatic attempts over "
                f"{_span(backoff_s)} (last: {item.reason}); retry it by hand once Clever is healthy")
    else:
        state, next_at = "handed_off", None
        note = f"automatic retries stopped after attempt {attempts}: {item.outcome}: {item.reason}"
    db.execute("UPDATE auto_retries SET attempts = ?, next_at = ?, state = ?, note = ?, updated_at = ? "
               "WHERE push_id = ?", [attempts, next_at, state, note[:500], iso(now), item.push_id])
    return state


def _time_may_fix(item: RetryItem) -> bool:
    """A transient failure again, or a skip (another run holds it, a write may still be at Clever, still
    blocked): the next step may succeed. A superseded push, an unknown outcome or another failure may not."""
    return item.outcome == "skipped" or (item.outcome == "failed" and item.category == TRANSIENT)


def run_auto_retries(client: CleverClient, db_path: str | Path, backoff_s: Sequence[float], now: datetime,
                     options: RetryOptions | None = None) -> str:
    """One pass: follow new transient failures, send the due ones, advance each; returns a summary."""
    with connect(db_path) as db, write_transaction(db):
        settle_finished(db, now)
        added = register(db, backoff_s, now)
        ids = due(db, now)
    if not ids:
        return f"{added} new transient failure(s) followed; none due"
    report = retry_pushes(client, db_path, ids, actor=ACTOR, options=options)
    with connect(db_path) as db, write_transaction(db):
        states = [advance(db, item, backoff_s, now) for item in report.items]
    return (f"{added} new transient failure(s) followed; {len(ids)} due: {states.count('sent')} sent, "
            f"{states.count('waiting')} waiting, {states.count('handed_off')} handed to a person")


def _span(backoff_s: Sequence[float]) -> str:
    hours = sum(backoff_s) / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
