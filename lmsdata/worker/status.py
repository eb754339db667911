"""Is the worker running, and when did (and will) each job run: read from the cache for the sidebar and CLI.

`verdict` is the one place that decides "running" / "silent" / "not running"; `summary` turns it into the
sidebar's line, so the dashboard and `lmsdata worker status` always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from lmsdata.pushes.log import parse_time
from lmsdata.wording import relative, span
from lmsdata.worker import lease, schedule

SILENT_AFTER_S = 600.0  # no heartbeat for this long: the worker is stuck or gone (a heartbeat precedes each job)


@dataclass(frozen=True)
class WorkerStatus:
    state: str                                  # running | silent | stopped | never
    owner: str | None
    heartbeat_at: str | None
    jobs: dict[str, dict[str, Any]]
    retries: dict[str, int] = field(default_factory=dict)         # auto_retries rows by state
    handed_off: list[dict[str, Any]] = field(default_factory=list)


def verdict(
    holder: dict[str, Any] | None, ever_ran: bool, now: datetime, silent_after_s: float = SILENT_AFTER_S
) -> str:
    """running: a lease with a recent heartbeat; silent: a lease whose heartbeat is old (killed or stuck);
    stopped: no lease, but jobs ran before; never: no worker ever ran on this cache."""
    if holder:
        age = (now - parse_time(holder["heartbeat_at"])).total_seconds()
        return "running" if age <= silent_after_s else "silent"
    return "stopped" if ever_ran else "never"


def read(db: sqlite_utils.Database, now: datetime) -> WorkerStatus:
    holder = lease.holder(db)
    jobs = schedule.jobs(db)
    retries = {r[0]: r[1] for r in db.execute("SELECT state, COUNT(*) FROM auto_retries GROUP BY state").fetchall()}
    handed = list(db.query(
        "SELECT a.push_id, a.attempts, a.updated_at, a.note, p.district_id FROM auto_retries a "
        "JOIN pushes p ON p.id = a.push_id WHERE a.state = 'handed_off' ORDER BY a.updated_at DESC LIMIT 50"
    ))
    ever_ran = any(j.get("last_finished_at") for j in jobs.values())
    return WorkerStatus(verdict(holder, ever_ran, now), holder and holder["owner"], holder and holder["heartbeat_at"],
                        jobs, retries, handed)


def summary(status: WorkerStatus, now: datetime) -> tuple[bool, str]:
    """(healthy, one line) for the sidebar: 'worker: last sync 3 min ago, next in 12 min' or a warning."""
    sync = status.jobs.get("sync") or {}
    last = f"last sync {relative(sync['last_finished_at'], now)}" if sync.get("last_finished_at") else "no sync yet"
    if status.state == "running":
        due = relative(sync.get("next_run_at"), now)  # 'in 12 min'; an overdue run is due now
        upcoming = (f", next {due}" if due.startswith("in ") else ", next due now") if due else ""
        failed = " (failed)" if sync.get("last_outcome") == "failed" else ""
        return True, f"worker: {last}{failed}{upcoming}"
    if status.state == "silent":
        return False, (f"worker: no heartbeat for {span(now - parse_time(status.heartbeat_at))} ({last}); "
                       "it may have been killed: check `lmsdata worker`")
    return False, f"worker: not running ({last}); start `lmsdata worker` to keep the cache fresh"
