"""A real `lmsdata worker` subprocess SIGKILLed in the middle of a queued bulk retry, then restarted: the job
resumes where it stopped (items already done are not redone), no grade is sent twice (writes counted in the
sandbox) and no item is lost."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lmsdata import jobqueue
from lmsdata.pushes import RetryOptions
from lmsdata.worker.jobs import run_queued_jobs
from tests.push_fixtures import CLIENT_ID, CLIENT_SECRET, Lab, transient_failures, writes_per_grade
from tests.test_jobqueue import OPERATOR, job_items, job_row


@contextlib.contextmanager
def worker(lab: Lab, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    config = tmp_path / "worker.toml"
    config.write_text("auto_retry = false\n[schedules]\nsync_s = 3600\njobs_s = 0.2\n", encoding="utf-8")
    command = [sys.executable, "-m", "lmsdata", "worker", "--sandbox", lab.url, "--db", str(lab.db_path),
               "--config", str(config), "--tick", "0.1"]
    env = {**os.environ, "CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def wait_for(check: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not check() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert check(), f"{what} not seen (worker exit code {process.poll()})"


def test_a_killed_worker_resumes_its_bulk_retry_without_sending_a_grade_twice(lab: Lab, tmp_path: Path) -> None:
    with lab.client() as client:
        ids = transient_failures(lab, client)
    # each write takes 0.1 s at Clever: the kill most likely lands with one on the wire
    lab.sandbox.inject("/submissions/", delay_s=0.1, count=10_000, method="PATCH")
    job_id = jobqueue.enqueue(lab.db_path, "bulk_retry", actor=OPERATOR, push_ids=ids)

    with worker(lab, tmp_path) as killed:
        wait_for(lambda: job_row(lab, job_id)["done"] >= 3, killed, "three items done")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    before = {i: r for i, r in job_items(lab, job_id).items() if r["state"] == "done"}
    row = job_row(lab, job_id)
    assert row["state"] == "running" and row["runner"] and 3 <= len(before) < len(ids), row  # a kill leaves it claimed

    with worker(lab, tmp_path) as restarted:  # the killed runner's process is gone: the job is resumed at once
        wait_for(lambda: job_row(lab, job_id)["runs"] == 2 and job_row(lab, job_id)["state"] in ("queued", "finished"),
                 restarted, "the job resumed")
        restarted.send_signal(signal.SIGTERM)
    resumed = job_row(lab, job_id)
    if resumed["state"] == "queued":
        # A write the killed worker left on the wire may still be processed by Clever (60 s write timeout): the
        # job waits for it instead of guessing. A later runner (here with a short settle time) checks it in Clever.
        assert "left on the wire" in resumed["summary"] and resumed["not_before"] is not None
        pending = [i for i, r in job_items(lab, job_id).items() if r["state"] == "pending"]
        assert 1 <= len(pending) <= 2, pending  # one per district at most
        later = datetime.now(UTC) + timedelta(minutes=2)
        time.sleep(0.6)
        assert "finished" in run_queued_jobs(lab.settings, lambda: later, retry_options=RetryOptions(settle_s=0.5))

    done = job_row(lab, job_id)
    found = job_items(lab, job_id)
    assert done["state"] == "finished" and done["done"] == len(ids) and done["runs"] >= 2
    assert set(found) == {str(i) for i in ids} and {r["state"] for r in found.values()} == {"done"}  # none lost
    assert {r["outcome"] for r in found.values()} == {"sent"}, [r for r in found.values() if r["outcome"] != "sent"]
    assert all(found[i]["finished_at"] == r["finished_at"] for i, r in before.items())  # not redone
    writes = writes_per_grade(lab)
    assert len(writes) == len(ids) and set(writes.values()) == {1}, "a grade was sent twice"
    assert {lab.push_row(i)["state"] for i in ids} == {"sent"}
