"""Honest run states: a sync still going is `running`, a killed one `interrupted`, and a killed sync
or retry leaves an audit row once the next run notices it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmsdata import audit
from lmsdata.db import connect
from lmsdata.pushes import SendPolicy, retry_pushes
from lmsdata.pushes import log as push_log
from lmsdata.pushes.retry import RetryOptions
from lmsdata.sync import run_state, sync, sync_in_progress
from tests.push_fixtures import ASSIGNMENT, running_lab
from tests.sync_fixtures import CLIENT_ID, CLIENT_SECRET, client_for, served


@pytest.mark.parametrize(
    ("outcome", "lock_held", "state"),
    [
        ("running", True, "running"),
        ("running", False, "interrupted"),  # killed, not yet noticed by the next sync
        ("interrupted", False, "interrupted"),
        ("success", False, "finished"),
        ("partial", True, "finished"),  # a later sync is running; this one is over
        ("failed", False, "finished"),
    ],
)
def test_run_state_is_one_verdict(outcome: str, lock_held: bool, state: str) -> None:
    assert run_state(outcome, lock_held) == state


def test_a_killed_sync_reads_as_running_then_interrupted_and_is_audited_by_the_next(tmp_path: Path) -> None:
    db_path = tmp_path / "cache.db"
    with served() as (sandbox, url):
        with client_for(url) as client:
            sync(client, db_path, full=True)
        assert not sync_in_progress(db_path)
        seen = sandbox.stats()["requests_by_route"].get("GET /v3.1/users", 0)
        sandbox.inject("/v3.1/users", delay_s=15)
        env = {**os.environ, "CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET}
        process = subprocess.Popen(
            [sys.executable, "-m", "lmsdata", "sync", "--sandbox", url, "--db", str(db_path), "--full"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while sandbox.stats()["requests_by_route"].get("GET /v3.1/users", 0) == seen \
                    and time.monotonic() < deadline:  # fmt: skip
                time.sleep(0.05)
            with connect(db_path) as db:
                outcome = db.execute("SELECT outcome FROM sync_runs ORDER BY id DESC").fetchone()[0]
            assert run_state(outcome, sync_in_progress(db_path)) == "running"
        finally:
            process.kill()
            process.wait()
        assert run_state(outcome, sync_in_progress(db_path)) == "interrupted"

        with client_for(url) as client:
            sync(client, db_path)
    with connect(db_path) as db:
        entries = [e for e in audit.entries(db) if e["action"] == "sync"]
    assert [(e["target"], e["outcome"]) for e in entries] == [
        ("all districts", "ok"), ("sync run #2", "failed"), ("all districts", "ok"),
    ]  # fmt: skip
    assert "interrupted" in entries[1]["detail"] and "kept their previous data" in entries[1]["detail"]


def test_a_request_a_killed_retry_left_open_is_audited_when_the_next_retry_settles_it(tmp_path: Path) -> None:
    with running_lab(tmp_path) as lab, lab.client() as client:
        district = lab.district("success", "canvas")
        section = lab.synced_section(district)
        pusher = lab.pusher(client, policy=SendPolicy(auto_retries=0))
        assert pusher.create_assignment(district, section["id"], "quiz", ASSIGNMENT).ok
        lab.sandbox.inject("/submissions/", status=503, count=1)
        student = lab.students(section, launched=True)[0]
        push_id = pusher.push_grade(district, section["id"], "quiz", student, {"grade_points": 9}).push_id
        with connect(lab.db_path) as db:  # what a retry killed while its request was on the wire leaves behind
            push_log.start_attempt(db, push_id, trigger="retry", started_at="2026-11-20T10:00:00.000Z")
            db.conn.commit()
        report = retry_pushes(client, lab.db_path, [push_id], options=RetryOptions(settle_s=0))
    assert report.items[0].outcome == "sent"
    with connect(lab.db_path) as db:
        noticed = [e for e in audit.entries(db) if e["target"] == f"push {push_id}"]
    assert [(e["action"], e["outcome"]) for e in noticed] == [("retry", "failed")]
    assert "interrupted" in noticed[0]["detail"]
