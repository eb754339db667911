"""Retention: trim what Clever answered to old, sent pushes; never the audit log.

After `LMSDATA_RETAIN_ATTEMPT_BODIES_DAYS` days (default 180) the `message` of each attempt of a
push that was sent is cleared: the push, its payload, state, status and every attempt's outcome,
status and timing stay, so the push log still proves what was sent and when. Failed, unknown and
pending pushes keep their messages (support still needs them). The audit log is never trimmed.

Space: SQLite reuses freed pages but does not shrink the file. `reclaim` returns them with
`PRAGMA incremental_vacuum` in small chunks (short write locks, safe while others write) once the
cache is in auto_vacuum=INCREMENTAL mode; switching to that mode needs one full VACUUM, which holds
an exclusive lock for as long as it rewrites the file, so it runs only when asked (`--vacuum`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from lmsdata.db import connect
from lmsdata.pushes.log import iso

RETAIN_ENV = "LMSDATA_RETAIN_ATTEMPT_BODIES_DAYS"
DEFAULT_RETAIN_DAYS = 180
_BATCH = 500
_VACUUM_PAGES = 256
_INCREMENTAL = 2


@dataclass(frozen=True)
class RetentionResult:
    cutoff: str
    attempts_trimmed: int
    bytes_trimmed: int
    pages_reclaimed: int
    dry_run: bool


def retain_days_from_env(environ: dict[str, str] | None = None) -> int:
    """The configured age in days; a bad value is one clear error, not a silent default."""
    raw = (environ if environ is not None else os.environ).get(RETAIN_ENV, "").strip()
    if not raw:
        return DEFAULT_RETAIN_DAYS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{RETAIN_ENV} must be a whole number of days (1 or more), got {raw!r}")
    return int(raw)


_TRIMMABLE = (
    "FROM push_attempts WHERE message IS NOT NULL AND started_at < ? "
    "AND push_id IN (SELECT id FROM pushes WHERE state = 'sent')"
)


def trim_attempt_bodies(
    db_path: str | Path, days: int, *, now: datetime | None = None, dry_run: bool = False, vacuum: bool = False
) -> RetentionResult:
    """Clear old sent pushes' attempt messages in small transactions, then give the space back."""
    cutoff_at = (now or datetime.now(UTC)) - timedelta(days=days)
    cutoff = iso(cutoff_at)
    with connect(db_path) as db:
        count, size = db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(LENGTH(message)), 0) {_TRIMMABLE}", [cutoff]
        ).fetchone()
        if dry_run:
            return RetentionResult(cutoff, count, size, 0, True)
        while True:
            with db.conn:
                changed = db.execute(
                    f"UPDATE push_attempts SET message = NULL WHERE id IN (SELECT id {_TRIMMABLE} LIMIT {_BATCH})",
                    [cutoff],
                ).rowcount
            if changed < _BATCH:
                break
        pages = reclaim(db, full_vacuum=vacuum)
    return RetentionResult(cutoff, count, size, pages, False)


def reclaim(db: sqlite_utils.Database, *, full_vacuum: bool = False) -> int:
    """Return free pages to the file system; returns how many pages were freed."""
    free_before = db.execute("PRAGMA freelist_count").fetchone()[0]
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        if not full_vacuum:
            return 0
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")
        return free_before
    while db.execute("PRAGMA freelist_count").fetchone()[0]:
        db.execute(f"PRAGMA incremental_vacuum({_VACUUM_PAGES})")
    return free_before
