"""The demo's embedded worker: started after the build, it heartbeats (the sidebar says it runs), runs a
queued job, opens alerts and posts them to the local webhook receiver, and stops with `env.close()`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lmsdata import demo, jobqueue
from lmsdata.db import connect
from lmsdata.worker import lease
from lmsdata.worker.status import read, summary


def eventually(check: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} not seen in {timeout_s:.0f} s"
        time.sleep(0.05)


def test_the_embedded_worker_heartbeats_runs_jobs_and_posts_alerts(tmp_path: Path) -> None:
    env = demo.start(tmp_path / "demo.db", scale="tiny")
    try:
        demo.build(env)
        with connect(env.db_path) as db:
            assert lease.holder(db) is None  # nothing ran during the build
            runs = db.execute("SELECT COUNT(*) FROM sync_runs").fetchone()[0]
        assert env.start_worker() and not env.start_worker()  # once per environment

        def sidebar() -> tuple[bool, str]:
            with connect(env.db_path) as db:
                return summary(read(db, datetime.now(UTC)), datetime.now(UTC))

        eventually(lambda: sidebar()[0], "a heartbeat")
        _, line = sidebar()
        assert line.startswith("worker: no sync yet, next in"), line  # the first demo sync waits one interval

        def sent() -> int:
            with connect(env.db_path) as db:
                return int(db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'sent'").fetchone()[0])

        # each row is marked sent once the receiver accepted it: every one sent arrived, exactly once
        eventually(lambda: env.webhook.received and sent() == len(env.webhook.received), "alerts at the webhook")
        with connect(env.db_path) as db:
            assert db.execute("SELECT COUNT(*) FROM alerts WHERE state = 'open'").fetchone()[0] >= 1
        assert all(note.get("title") for note in env.webhook.received)

        with connect(env.db_path) as db:
            district = db.execute("SELECT id FROM districts WHERE lms_state = 'success' ORDER BY id").fetchone()[0]
        job_id = jobqueue.enqueue(env.db_path, "sync_districts", actor="demo", district_ids=[district])

        def state() -> str:
            with connect(env.db_path) as db:
                row = jobqueue.get(db, job_id)
            return row["state"] if row else ""

        eventually(lambda: state() == "finished", "the queued job finished")
        with connect(env.db_path) as db:
            assert [r["outcome"] for r in jobqueue.items(db, job_id)] == ["synced"]
            assert db.execute("SELECT COUNT(*) FROM sync_runs").fetchone()[0] == runs + 1  # the job's, only
    finally:
        env.close()
    assert env.worker_thread is not None and not env.worker_thread.is_alive()
    with connect(env.db_path) as db:
        assert lease.holder(db) is None  # it gave the cache back
