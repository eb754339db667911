"""The worker-silent alert: a stopped worker cannot report itself, so two others do.

- `watch` is run by `lmsdata alerts watch`, from cron or a systemd timer beside the worker (docs/worker.md):
  it reads the worker's last sign of life from the cache, opens (or resolves) the `worker_silent` alert and
  delivers the outbox itself, since the worker that would deliver is the one that is silent.
- `worker_started` is called by the worker when it takes the cache: after a gap longer than the
  threshold it says so (open, then resolved: "started again"), and it resolves an alert the watch opened.
Both go through `alerts.reconcile`, so the alert opens once and the outbox claim keeps each send single.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import sqlite_utils

from lmsdata.db import connect
from lmsdata.pushes.log import parse_time
from lmsdata.worker import lease, schedule
from lmsdata.worker.alerts import worker_reconcile
from lmsdata.worker.config import Channel, WorkerConfig
from lmsdata.worker.notify import Send, apprise_send, deliver
from lmsdata.worker.rules import worker_silent


def last_activity(db: sqlite_utils.Database) -> datetime | None:
    """The newest heartbeat or finished job; None when no worker ever ran on this cache."""
    holder = lease.holder(db)
    times = [parse_time(holder["heartbeat_at"])] if holder else []
    times += [parse_time(j["last_finished_at"]) for j in schedule.jobs(db).values() if j.get("last_finished_at")]
    return max(times) if times else None


def watch(db_path: str | Path, config: WorkerConfig, now: datetime, send: Send = apprise_send) -> str:
    """Open, keep or resolve the worker-silent alert from the cache, then deliver what is due; one line back."""
    with connect(db_path) as db:
        detail = worker_silent(last_activity(db), silent_minutes=config.alerts.worker_silent_minutes, now=now)
        worker_reconcile(db, detail, now=now, renotify_hours=config.alerts.renotify_hours,
                         channels=config.channels)
        sent = deliver(db, config.channels, now, send)
    return f"{detail or 'the worker is running'}; {sent} notification(s) sent"


def worker_started(db_path: str | Path, last: datetime | None, now: datetime, *, silent_minutes: float,
                   renotify_hours: float, channels: Sequence[Channel]) -> None:
    """On start: a gap longer than `silent_minutes` since `last` is reported, then resolved (it runs again)."""
    with connect(db_path) as db:
        gap = worker_silent(last, silent_minutes=silent_minutes, now=now)
        if gap:
            worker_reconcile(db, f"{gap}; it started again at {now:%Y-%m-%d %H:%M} UTC", now=now,
                             renotify_hours=renotify_hours, channels=channels)
        worker_reconcile(db, None, now=now, renotify_hours=renotify_hours, channels=channels)
