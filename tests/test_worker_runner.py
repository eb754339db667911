"""The worker loop with an injected clock: due jobs run once, a failing job is recorded, stop is honoured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata.db import connect
from lmsdata.worker import lease, schedule
from lmsdata.worker.runner import Job, Worker


def test_cycles_run_due_jobs_once_record_failures_and_a_second_worker_is_refused(db_path: Path) -> None:
    clock = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    calls: list[str] = []

    def broken() -> str:
        raise RuntimeError("Clever did not answer")

    jobs = {
        "sync": Job(lambda: calls.append("sync") or "synced", lambda now: now + timedelta(minutes=15)),
        "digest": Job(broken, lambda now: now + timedelta(days=1)),
    }
    worker = Worker(db_path, jobs, now=lambda: clock[0], owner="h:1:a")
    worker.start()
    assert worker.cycle() == ["sync", "digest"]
    assert worker.cycle() == []
    clock[0] += timedelta(hours=5)  # twenty missed syncs
    assert worker.cycle() == ["sync"] and calls == ["sync", "sync"]  # once, not twenty times; digest not due
    with connect(db_path) as db:
        rows = schedule.jobs(db)
        assert rows["digest"]["last_outcome"] == "failed" and "did not answer" in rows["digest"]["last_detail"]
        assert rows["sync"]["next_run_at"].startswith("2026-12-01T17:15")
    with pytest.raises(lease.LeaseHeld):
        Worker(db_path, jobs, now=lambda: clock[0], owner="h:2:b").start()

    worker.stop.set()
    worker.run(wait=lambda s: None)
    with connect(db_path) as db:
        assert lease.holder(db) is None  # a stopped worker gives the cache back
