"""One active worker per cache: a lease row renewed with every heartbeat.

A second worker finds the lease held and waits or exits with a message naming the holder. A lease
left by a killed worker is taken over once it expires, or at once when its process is gone (same host).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from lmsdata.pushes.log import iso, owner_is_dead, parse_time, write_transaction

NAME = "worker"


class LeaseHeld(RuntimeError):
    """Another worker holds the cache; the message says who and since when."""


def acquire(db: sqlite_utils.Database, owner: str, now: datetime, lease_s: float) -> None:
    """Take the lease or raise LeaseHeld."""
    with write_transaction(db):
        row = holder(db)
        if row and row["owner"] != owner and parse_time(row["until"]) > now and not owner_is_dead(row["owner"]):
            raise LeaseHeld(
                f"another worker ({row['owner']}) is running on this cache since {row['acquired_at']} "
                f"(last heartbeat {row['heartbeat_at']}); only one worker may run per cache"
            )
        db.execute(
            "INSERT INTO worker_lease (name, owner, acquired_at, heartbeat_at, until) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, acquired_at = excluded.acquired_at, "
            "heartbeat_at = excluded.heartbeat_at, until = excluded.until",
            [NAME, owner, iso(now), iso(now), iso(now + timedelta(seconds=lease_s))],
        )


def heartbeat(db: sqlite_utils.Database, owner: str, now: datetime, lease_s: float) -> None:
    """Renew the lease; raise LeaseHeld if another worker took it over meanwhile."""
    with write_transaction(db):
        cursor = db.execute(
            "UPDATE worker_lease SET heartbeat_at = ?, until = ? WHERE name = ? AND owner = ?",
            [iso(now), iso(now + timedelta(seconds=lease_s)), NAME, owner],
        )
        if cursor.rowcount != 1:
            raise LeaseHeld("another worker took over this cache; this one stops")


def release(db: sqlite_utils.Database, owner: str) -> None:
    db.execute("DELETE FROM worker_lease WHERE name = ? AND owner = ?", [NAME, owner])


def holder(db: sqlite_utils.Database) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM worker_lease WHERE name = ?", [NAME]))
    return rows[0] if rows else None
