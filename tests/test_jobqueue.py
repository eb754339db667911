"""The job queue against the loopback sandbox: a queued bulk retry is run by the worker with a result per
push, a sync of every district with a result per district, a viewer cannot queue, and a cancel stops a
running job between chunks (the rest is never sent)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from lmsdata import audit, jobqueue
from lmsdata.access import AccessDenied, Principal, Role
from lmsdata.db import connect
from lmsdata.worker import lease, schedule
from lmsdata.worker.config import WorkerConfig
from lmsdata.worker.jobs import build_jobs
from lmsdata.worker.runner import Worker
from tests.push_fixtures import Lab, transient_failures, writes_per_grade

OPERATOR = Principal("ana@partner.example", Role.OPERATOR)
VIEWER = Principal("lee@partner.example", Role.VIEWER)


def job_row(lab: Lab, job_id: int) -> dict:  # type: ignore[type-arg]
    with connect(lab.db_path) as db:
        row = jobqueue.get(db, job_id)
    assert row is not None
    return row


def job_items(lab: Lab, job_id: int) -> dict[str, dict]:  # type: ignore[type-arg]
    with connect(lab.db_path) as db:
        return {r["item"]: r for r in jobqueue.items(db, job_id)}


def queue_worker(lab: Lab) -> Worker:
    """The real worker with only its queued-jobs job (the other jobs have their own tests)."""
    now = lambda: datetime.now(UTC)  # noqa: E731
    jobs = build_jobs(lab.settings, WorkerConfig(), now)
    return Worker(lab.db_path, {"queued_jobs": jobs["queued_jobs"]}, now=now)


def test_a_queued_bulk_retry_is_run_by_the_worker_with_a_result_per_push(lab: Lab) -> None:
    with lab.client() as client:
        ids = transient_failures(lab, client)
    job_id = jobqueue.enqueue(lab.db_path, "bulk_retry", actor=OPERATOR, push_ids=[*ids, 999_999])
    queued = job_row(lab, job_id)
    assert queued["state"] == "queued" and queued["requested_by"] == OPERATOR.email
    assert queued["total"] == len(ids) + 1 and queued["estimate_requests"] > len(ids)
    assert jobqueue.enqueue(lab.db_path, "bulk_retry", actor=OPERATOR, push_ids=[*ids, 999_999]) == job_id  # no twin
    assert len(lab.writes("submission.update")) == 0

    worker = queue_worker(lab)
    worker.start()
    assert worker.cycle() == ["queued_jobs"]

    done = job_row(lab, job_id)
    assert done["state"] == "finished" and done["done"] == len(ids) + 1 and done["runs"] == 1
    assert done["actual_requests"] > 0 and done["actual_seconds"] > 0
    found = job_items(lab, job_id)
    assert {found[str(i)]["outcome"] for i in ids} == {"sent"}
    assert found["999999"]["outcome"] == "skipped" and "no push #999999" in found["999999"]["reason"]
    assert done["summary"] == f"{len(ids)} sent, 1 skipped"
    assert all(lab.push_row(i)["state"] == "sent" for i in ids)
    assert set(writes_per_grade(lab).values()) == {1} and len(writes_per_grade(lab)) == len(ids)
    with connect(lab.db_path) as db:
        assert [e["actor"] for e in audit.entries(db, action="enqueue_job")] == [OPERATOR.email]
        assert {e["actor"] for e in audit.entries(db, action="retry")} == {f"{OPERATOR.email} (job {job_id})"}
    assert worker.cycle() == []  # not due again for a few seconds; nothing left anyway
    assert jobqueue.run_next(lambda: lab.client(), lab.db_path) is None


def test_sync_all_lists_every_district_when_it_starts_and_reports_each(lab: Lab) -> None:
    job_id = jobqueue.enqueue(lab.db_path, "sync_all", actor=OPERATOR)
    assert job_row(lab, job_id)["total"] is None  # listed by the runner, from Clever's tokens and the cache
    line = jobqueue.run_next(lambda: lab.client(), lab.db_path)
    assert line is not None and f"job #{job_id} finished" in line
    found = job_items(lab, job_id)
    assert set(found) == set(lab.sandbox.district_ids())
    assert {r["outcome"] for r in found.values()} == {"synced"}
    assert all("records" in r["reason"] for r in found.values())
    row = job_row(lab, job_id)
    assert row["total"] == row["done"] == len(found) and row["actual_requests"] >= len(found)
    with connect(lab.db_path) as db:
        actors = {r[0] for r in db.execute("SELECT actor FROM sync_runs WHERE actor LIKE '%(job %'").fetchall()}
    assert actors == {f"{OPERATOR.email} (job {job_id})"}


def test_a_viewer_cannot_queue_or_cancel_and_the_refusal_is_audited(lab: Lab) -> None:
    with pytest.raises(AccessDenied):
        jobqueue.enqueue(lab.db_path, "sync_all", actor=VIEWER)
    job_id = jobqueue.enqueue(lab.db_path, "sync_districts", actor=OPERATOR,
                              district_ids=[lab.district("success", "canvas")])
    with pytest.raises(AccessDenied):
        jobqueue.cancel(lab.db_path, job_id, actor=VIEWER)
    with connect(lab.db_path) as db:
        refused = [(e["action"], e["actor"]) for e in audit.entries(db) if e["outcome"] == "refused"]
        assert sorted(refused) == [("cancel_job", VIEWER.email), ("enqueue_job", VIEWER.email)]
        assert db.execute("SELECT COUNT(*) FROM queued_jobs").fetchone()[0] == 1
    assert jobqueue.cancel(lab.db_path, job_id, actor=OPERATOR) == "cancelled"  # queued: at once
    assert job_row(lab, job_id)["state"] == "cancelled"
    assert {r["state"] for r in job_items(lab, job_id).values()} == {"cancelled"}
    assert jobqueue.run_next(lambda: lab.client(), lab.db_path) is None
    with pytest.raises(jobqueue.JobError, match="already cancelled"):
        jobqueue.cancel(lab.db_path, job_id, actor=OPERATOR)


def test_cancel_stops_a_running_job_between_chunks_and_the_rest_is_never_sent(lab: Lab) -> None:
    with lab.client() as client:
        ids = transient_failures(lab, client)
    assert len(ids) >= 6
    lab.sandbox.inject("/submissions/", delay_s=0.05, count=10_000, method="PATCH")
    job_id = jobqueue.enqueue(lab.db_path, "bulk_retry", actor=OPERATOR, push_ids=ids)
    lines: list[str | None] = []
    runner = threading.Thread(target=lambda: lines.append(
        jobqueue.run_next(lambda: lab.client(), lab.db_path, chunk=2)))
    runner.start()
    deadline = time.monotonic() + 30
    while job_row(lab, job_id)["done"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobqueue.cancel(lab.db_path, job_id, actor=OPERATOR) == "cancelling"
    runner.join(timeout=60)
    assert lines and lines[0] is not None and "cancelled" in lines[0]

    row = job_row(lab, job_id)
    found = job_items(lab, job_id)
    sent = {int(i) for i, r in found.items() if r["outcome"] == "sent"}
    assert row["state"] == "cancelled" and row["cancel_requested_by"] == OPERATOR.email
    assert 1 <= len(sent) <= 4 < len(ids)  # the chunk running when the cancel came finished; no later one started
    assert {r["state"] for i, r in found.items() if int(i) not in sent} == {"cancelled"}
    assert row["done"] == len(sent) and row["summary"] == f"cancelled after {len(sent)} item(s)"
    assert {lab.push_row(i)["state"] for i in ids if i not in sent} == {"failed"}
    assert len(lab.writes("submission.update")) == len(sent)


def test_a_long_job_keeps_the_worker_lease_fresh(lab: Lab) -> None:
    """The worker renews its own lease every round of a queued job, not only between jobs."""
    ticks = itertools.count()
    start = datetime.now(UTC)
    now = lambda: start + timedelta(seconds=next(ticks))  # noqa: E731  (every reading one second later)
    jobs = build_jobs(lab.settings, WorkerConfig(), now)
    worker = Worker(lab.db_path, {"queued_jobs": jobs["queued_jobs"]}, now=now)
    jobqueue.enqueue(lab.db_path, "sync_districts", actor=OPERATOR, district_ids=[lab.district("success", "canvas")])
    worker.start()
    assert worker.cycle() == ["queued_jobs"]
    with connect(lab.db_path) as db:
        beat = lease.holder(db)["heartbeat_at"]  # type: ignore[index]
        job_started = schedule.jobs(db)["queued_jobs"]["last_started_at"]
    assert beat > job_started  # renewed while the job ran
