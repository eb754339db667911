"""When each job runs next, and the cache rows that remember it.

A job whose time passed while the machine slept (or the worker was down) runs once, and its next
run is counted from now: N missed runs never turn into N runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from lmsdata.pushes.log import iso, parse_time


def next_after(now: datetime, *, every_s: float | None = None, daily_at: str | None = None) -> datetime:
    """The next run after `now`: `every_s` seconds later, or the next `daily_at` ("HH:MM" UTC)."""
    if daily_at is None:
        return now + timedelta(seconds=float(every_s or 60.0))
    hour, _, minute = daily_at.partition(":")
    today = now.replace(hour=int(hour), minute=int(minute or 0), second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


def due(db: sqlite_utils.Database, job: str, now: datetime) -> bool:
    """True when `job` never ran or its next run time has come."""
    row = db.execute("SELECT next_run_at FROM worker_schedule WHERE job = ?", [job]).fetchone()
    return row is None or row[0] is None or parse_time(row[0]) <= now


def plan_first(db: sqlite_utils.Database, job: str, next_run: datetime) -> None:
    """A job that never ran waits for `next_run` (a nightly job should not run at start-up)."""
    db.execute("INSERT OR IGNORE INTO worker_schedule (job, next_run_at) VALUES (?, ?)", [job, iso(next_run)])


def started(db: sqlite_utils.Database, job: str, now: datetime) -> None:
    db.execute(
        "INSERT INTO worker_schedule (job, last_started_at) VALUES (?, ?) "
        "ON CONFLICT(job) DO UPDATE SET last_started_at = excluded.last_started_at",
        [job, iso(now)],
    )


def finished(db: sqlite_utils.Database, job: str, now: datetime, next_run: datetime, outcome: str, detail: str) -> None:
    db.execute(
        "UPDATE worker_schedule SET last_finished_at = ?, last_outcome = ?, last_detail = ?, next_run_at = ? "
        "WHERE job = ?",
        [iso(now), outcome, detail[:500], iso(next_run), job],
    )


def jobs(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """Every job's last and next run, for the sidebar and `lmsdata worker --status`."""
    return {row["job"]: row for row in db.query("SELECT * FROM worker_schedule")}
