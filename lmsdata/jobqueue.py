"""Long dashboard actions as jobs in the cache, run by the worker: progress, per-item results, cancel, resume.

"Sync all now", syncs of chosen districts and bulk retries are queued here (audited, authorised by role)
instead of running in a browser session's script thread. The worker claims one job at a time (the job
row carries the runner's lease and heartbeat), works through its items in chunks and writes each item's
result as it happens. A cancel is cooperative: it takes effect between chunks. A job whose runner died
(killed, or its lease expired) is resumed by the next runner: items already done are not redone, and a
retry goes through `retry_pushes` again, whose push leases and newest-only rule prevent a double send.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata import audit, budget
from lmsdata.access import Actor, Permission
from lmsdata.db import bump_data_version, connect
from lmsdata.pushes import log
from lmsdata.pushes.log import iso, owner_is_dead, parse_time, write_transaction
from lmsdata.redact import redact

KINDS: dict[str, Permission] = {"sync_all": Permission.SYNC, "sync_districts": Permission.SYNC,
                                "bulk_retry": Permission.RETRY}
STATES = ("queued", "running", "cancelling", "cancelled", "finished", "failed", "interrupted")
ACTIVE = ("queued", "running", "cancelling", "interrupted")
CLAIMED = ("running", "cancelling")
LEASE_S = 120.0
RETRY_CHUNK = 50          # pushes per district per retry_pushes call (its claim batch): a cancel waits one round
RETRY_DISTRICTS = 8       # districts per retry_pushes call (its concurrency)
SYNC_CHUNK = 8            # districts per sync call (twice the sync's concurrency)
SETTLE_PAUSE_S = 65.0     # a write a killed runner left on the wire is checked again after Clever's write timeout

ClientFactory = Callable[[], Any]   # returns a CleverClient (a context manager)
Clock = Callable[[], datetime]


class JobError(ValueError):
    """A job that cannot be queued or cancelled; the message says why."""


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    params: dict[str, Any]
    requested_by: str
    total: int | None
    runs: int


# --- queueing ----------------------------------------------------------------------------------


def enqueue(db_path: str | Path, kind: str, *, actor: Actor, push_ids: Sequence[int] | None = None,
            district_ids: Sequence[str] | None = None, now: datetime | None = None,
            budget_settings: budget.BudgetSettings | None = None) -> int:
    """Queue a job and return its id (an identical job still waiting is returned instead of a twin).

    The role is checked (a refusal is audited) before anything is written; the enqueue is audited
    with the budget's estimate in the same transaction.
    """
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
    items = _items_for(kind, push_ids, district_ids)
    params: dict[str, Any] = {"push_ids": [int(i) for i in push_ids or []],
                              "district_ids": [str(d) for d in district_ids or []]}
    who = audit.authorize(db_path, actor, KINDS[kind], action="enqueue_job", target=kind,
                          params={"items": len(items) if items is not None else "every district"})
    at = iso(now or datetime.now().astimezone())
    settings = budget_settings or _budget_settings()
    with connect(db_path) as db:
        estimate = _estimate(db, kind, params, settings)
        with write_transaction(db):
            twin = _waiting_twin(db, kind, params)
            if twin is not None:
                return twin
            cursor = db.execute(
                "INSERT INTO queued_jobs (kind, params, requested_by, requested_at, state, total, estimate_requests, "
                "estimate_seconds) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                [kind, json.dumps(params, sort_keys=True), who, at, None if items is None else len(items),
                 estimate.requests, round(estimate.seconds, 1)],
            )
            job_id = int(cursor.lastrowid or 0)
            if items is not None:
                _insert_items(db, job_id, items, kind)
            audit.record(db, actor=who, action="enqueue_job", target=f"job {job_id}", outcome="ok",
                         params={"kind": kind, "items": len(items) if items is not None else None,
                                 "estimate_requests": estimate.requests},
                         detail=f"{describe_kind(kind, params)} queued for the worker")
            bump_data_version(db)
    return job_id


def cancel(db_path: str | Path, job_id: int, *, actor: Actor, now: datetime | None = None) -> str:
    """Ask a job to stop; returns its new state. A queued job is cancelled at once, a running one
    between two chunks of items (cancelling); a finished one cannot be cancelled (JobError)."""
    with connect(db_path) as db:
        row = get(db, job_id)
    if row is None:
        raise JobError(f"there is no job #{job_id}")
    who = audit.authorize(db_path, actor, KINDS[row["kind"]], action="cancel_job", target=f"job {job_id}")
    at = iso(now or datetime.now().astimezone())
    with connect(db_path) as db, write_transaction(db):
        row = get(db, job_id) or row
        if row["state"] not in ACTIVE:
            raise JobError(f"job #{job_id} is already {row['state']}; there is nothing to cancel")
        state = "cancelled" if row["state"] in ("queued", "interrupted") else "cancelling"
        db.execute("UPDATE queued_jobs SET state = ?, cancel_requested_by = ?, cancel_requested_at = ? WHERE id = ?",
                   [state, who, at, job_id])
        if state == "cancelled":
            _close_cancelled(db, job_id, at)
        audit.record(db, actor=who, action="cancel_job", target=f"job {job_id}", outcome="ok",
                     params={"kind": row["kind"], "was": row["state"]}, detail=f"job #{job_id} {state}")
        bump_data_version(db)
    return state


def _items_for(kind: str, push_ids: Sequence[int] | None, district_ids: Sequence[str] | None) -> list[str] | None:
    """The job's items at enqueue; None for sync_all, whose districts are listed when it starts."""
    if kind == "bulk_retry":
        if not push_ids:
            raise JobError("a bulk retry needs the pushes to retry")
        return [str(int(i)) for i in dict.fromkeys(push_ids)]
    if kind == "sync_districts":
        if not district_ids:
            raise JobError("a district sync needs the districts to pull")
        return [str(d) for d in dict.fromkeys(district_ids)]
    return None


def _budget_settings() -> budget.BudgetSettings:
    """The configured rate limit; a bad LMSDATA_CLEVER_RATE_LIMIT falls back to Clever's default here
    (the dashboard's confirmation already says it is wrong)."""
    try:
        return budget.settings_from_env(os.environ)
    except ValueError:
        return budget.BudgetSettings()


def _estimate(db: sqlite_utils.Database, kind: str, params: Mapping[str, Any],
              settings: budget.BudgetSettings) -> budget.Estimate:
    if kind == "bulk_retry":
        return budget.estimate_retry(db, settings, push_ids=params["push_ids"])
    return budget.estimate_sync(db, settings, budget.sync_targets(db, params["district_ids"]), full=False)


def _waiting_twin(db: sqlite_utils.Database, kind: str, params: Mapping[str, Any]) -> int | None:
    row = db.execute("SELECT id FROM queued_jobs WHERE kind = ? AND params = ? AND state IN ('queued', 'interrupted') "
                     "ORDER BY id LIMIT 1", [kind, json.dumps(dict(params), sort_keys=True)]).fetchone()
    return int(row[0]) if row else None


def _insert_items(db: sqlite_utils.Database, job_id: int, items: Sequence[str], kind: str = "sync") -> None:
    """The job's items in order, each with its district (a push's, or the district synced)."""
    districts = _push_districts(db, items) if kind == "bulk_retry" else {item: item for item in items}
    db.conn.executemany(
        "INSERT INTO queued_job_items (job_id, position, item, district_id, state) VALUES (?, ?, ?, ?, 'pending')",
        [(job_id, i, item, districts.get(item)) for i, item in enumerate(items)])


def _push_districts(db: sqlite_utils.Database, items: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ids = [int(i) for i in items]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update({str(r[0]): r[1] for r in db.execute(
            f"SELECT id, district_id FROM pushes WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall()})
    return found


def next_items(db: sqlite_utils.Database, job_id: int, per_district: int, limit: int) -> list[str]:
    """The next `per_district` items still to do of every district, in queue order: one library call then
    works on all districts at once (as a direct run would), and a cancel waits at most one such round."""
    return [r[0] for r in db.execute(
        "SELECT item FROM (SELECT item, position, ROW_NUMBER() OVER (PARTITION BY district_id ORDER BY position) "
        "AS rank FROM queued_job_items WHERE job_id = ? AND state = 'pending' AND "
        "(reason IS NULL OR reason NOT LIKE 'waiting:%')) WHERE rank <= ? ORDER BY position LIMIT ?",
        [job_id, per_district, limit]).fetchall()]


def describe_kind(kind: str, params: Mapping[str, Any]) -> str:
    """'Sync all districts', 'Sync 2 districts', 'Retry 140 pushes': how the panel and the audit name a job."""
    from lmsdata.wording import plural

    if kind == "sync_all":
        return "Sync all districts"
    if kind == "sync_districts":
        return f"Sync {plural(len(params.get('district_ids') or []), 'district')}"
    return f"Retry {plural(len(params.get('push_ids') or []), 'push')}"


# --- reading -----------------------------------------------------------------------------------


def get(db: sqlite_utils.Database, job_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM queued_jobs WHERE id = ?", [job_id]))
    return rows[0] if rows else None


def recent(db: sqlite_utils.Database, limit: int = 10) -> list[dict[str, Any]]:
    """The newest jobs, active ones first, for the jobs panel."""
    marks = ",".join("?" * len(ACTIVE))
    return list(db.query(f"SELECT * FROM queued_jobs ORDER BY state IN ({marks}) DESC, id DESC LIMIT ?",
                         [*ACTIVE, limit]))


def items(db: sqlite_utils.Database, job_id: int, limit: int | None = None) -> list[dict[str, Any]]:
    """A job's items with their results, done ones first (newest result first), then those still to do."""
    return list(db.query(
        "SELECT item, state, outcome, reason, finished_at FROM queued_job_items WHERE job_id = ? "
        "ORDER BY state = 'pending', finished_at DESC, position LIMIT ?", [job_id, -1 if limit is None else limit]))


def outcome_counts(db: sqlite_utils.Database, job_id: int) -> dict[str, int]:
    return {r[0]: r[1] for r in db.execute(
        "SELECT outcome, COUNT(*) FROM queued_job_items WHERE job_id = ? AND outcome IS NOT NULL GROUP BY outcome "
        "ORDER BY outcome", [job_id]).fetchall()}


def active_count(db: sqlite_utils.Database) -> int:
    marks = ",".join("?" * len(ACTIVE))
    return int(db.execute(f"SELECT COUNT(*) FROM queued_jobs WHERE state IN ({marks})", list(ACTIVE)).fetchone()[0])


# --- claiming ----------------------------------------------------------------------------------


def claim(db_path: str | Path, owner: str, now: datetime, lease_s: float = LEASE_S) -> Claimed | None:
    """Take the next job (an interrupted one first, then the oldest queued), or None.

    One runner at a time: while another live runner holds a job, nothing is claimed. A job whose
    runner is gone (its process dead on this host, or its lease expired) is marked interrupted and
    resumed here; one that was being cancelled is closed as cancelled instead.
    """
    at = iso(now)
    with connect(db_path) as db, write_transaction(db):
        for row in db.query("SELECT id, state, runner, lease_until FROM queued_jobs WHERE state IN (?, ?)",
                            list(CLAIMED)):
            alive = row["runner"] == owner or (parse_time(row["lease_until"]) > now
                                               and not owner_is_dead(row["runner"] or ""))
            if alive:
                return None
            if row["state"] == "cancelling":
                db.execute("UPDATE queued_jobs SET state = 'cancelled', runner = NULL, lease_until = NULL WHERE id = ?",
                           [row["id"]])
                _close_cancelled(db, row["id"], at)
            else:
                db.execute("UPDATE queued_jobs SET state = 'interrupted', runner = NULL, lease_until = NULL, "
                           "summary = ? WHERE id = ?", [f"its runner stopped at {at}; resuming", row["id"]])
        found = db.execute(
            "SELECT id FROM queued_jobs WHERE state IN ('interrupted', 'queued') AND (not_before IS NULL OR "
            "not_before <= ?) ORDER BY state = 'queued', id LIMIT 1", [at]).fetchone()
        if found is None:
            return None
        job_id = int(found[0])
        db.execute("UPDATE queued_jobs SET state = 'running', runner = ?, heartbeat_at = ?, lease_until = ?, "
                   "runs = runs + 1, started_at = COALESCE(started_at, ?), not_before = NULL WHERE id = ?",
                   [owner, at, iso(now + timedelta(seconds=lease_s)), at, job_id])
        row = get(db, job_id)
        assert row is not None
        bump_data_version(db)
    return Claimed(job_id, row["kind"], json.loads(row["params"]), row["requested_by"], row["total"], row["runs"])


def _heartbeat(db: sqlite_utils.Database, job_id: int, owner: str, now: datetime, lease_s: float) -> str | None:
    """Renew the runner's lease; returns the job's state, or None when another runner took the job over."""
    with write_transaction(db):
        cursor = db.execute("UPDATE queued_jobs SET heartbeat_at = ?, lease_until = ? WHERE id = ? AND runner = ?",
                            [iso(now), iso(now + timedelta(seconds=lease_s)), job_id, owner])
        if cursor.rowcount != 1:
            return None
        row = db.execute("SELECT state FROM queued_jobs WHERE id = ?", [job_id]).fetchone()
    return str(row[0])


def _close_cancelled(db: sqlite_utils.Database, job_id: int, at: str) -> None:
    db.execute("UPDATE queued_job_items SET state = 'cancelled', reason = 'cancelled before it ran' "
               "WHERE job_id = ? AND state = 'pending'", [job_id])
    done = db.execute("SELECT COUNT(*) FROM queued_job_items WHERE job_id = ? AND state = 'done'", [job_id]).fetchone()
    db.execute("UPDATE queued_jobs SET finished_at = ?, done = ?, summary = ? WHERE id = ?",
               [at, done[0], f"cancelled after {done[0]} item(s)", job_id])


# --- running -----------------------------------------------------------------------------------


@dataclass
class _Recorder:
    """Writes item results as they happen, from whichever thread the library calls back on."""

    db: sqlite_utils.Database
    job_id: int
    clock: Clock
    lock: threading.Lock

    def item(self, item: str, outcome: str, reason: str, *, done: bool = True, overwrite: bool = False) -> None:
        """One item's result (or, with done False, a note on an item that stays to do)."""
        only_pending = "" if overwrite else " AND state = 'pending'"
        with self.lock, self.db.conn:
            self.db.execute(
                "UPDATE queued_job_items SET state = ?, outcome = ?, reason = ?, finished_at = ? "
                f"WHERE job_id = ? AND item = ?{only_pending}",
                ["done" if done else "pending", outcome if done else None, redact(reason)[:500],
                 iso(self.clock()) if done else None, self.job_id, item])
            self.db.execute("UPDATE queued_jobs SET done = (SELECT COUNT(*) FROM queued_job_items WHERE job_id = ? "
                            "AND state = 'done') WHERE id = ?", [self.job_id, self.job_id])
            bump_data_version(self.db)

    def add_usage(self, requests: int, seconds: float) -> None:
        with self.lock, self.db.conn:
            self.db.execute("UPDATE queued_jobs SET actual_requests = actual_requests + ?, "
                            "actual_seconds = actual_seconds + ? WHERE id = ?", [requests, round(seconds, 3),
                                                                                 self.job_id])


@contextmanager
def _shared(db_path: str | Path) -> Iterator[sqlite_utils.Database]:
    """One connection the library's threads may share under a lock (progress callbacks come from them)."""
    with connect(db_path):
        pass  # migrations applied
    conn = sqlite3.connect(str(db_path), check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    db = sqlite_utils.Database(conn)
    try:
        yield db
    finally:
        db.close()


def run_next(clients: ClientFactory, db_path: str | Path, *, owner: str | None = None, now: Clock | None = None,
             lease_s: float = LEASE_S, retry_options: Any = None, stop: threading.Event | None = None,
             chunk: int | None = None, beat: Callable[[], None] | None = None) -> str | None:
    """Claim one job and run it to its end (or a cancel, or `stop`); returns a one-line summary, None if idle.

    `chunk`: pushes per district per `retry_pushes` call (RETRY_CHUNK), or districts per sync (SYNC_CHUNK).
    """
    clock = now or (lambda: datetime.now().astimezone())
    owner = owner or log.new_lease_owner()
    job = claim(db_path, owner, clock(), lease_s)
    if job is None:
        return None
    return run_claimed(job, clients, db_path, owner=owner, now=clock, lease_s=lease_s, retry_options=retry_options,
                       stop=stop, chunk=chunk, beat=beat)


def run_claimed(job: Claimed, clients: ClientFactory, db_path: str | Path, *, owner: str, now: Clock,
                lease_s: float = LEASE_S, retry_options: Any = None, stop: threading.Event | None = None,
                chunk: int | None = None, beat: Callable[[], None] | None = None) -> str:
    """Work through the job's pending items in chunks, with a heartbeat and a cancel check before each
    (`beat` also renews the caller's own lease, e.g. the worker's, once per round)."""
    from lmsdata.errors import CleverError
    from lmsdata.sync import SyncAlreadyRunning

    stop = stop or threading.Event()
    actor = f"{job.requested_by} (job {job.id})"
    with _shared(db_path) as db:
        recorder = _Recorder(db, job.id, now, threading.Lock())
        try:
            with clients() as client:
                if job.total is None:
                    _list_all_districts(db, job.id, client)
                retrying = job.kind == "bulk_retry"
                per_district = (chunk or RETRY_CHUNK) if retrying else 1
                limit = per_district * RETRY_DISTRICTS if retrying else (chunk or SYNC_CHUNK)
                settling = False
                while True:
                    try:
                        if beat is not None:
                            beat()
                    except Exception as exc:  # the worker lost its own lease: the job waits for the next one
                        return _release(db, job.id, owner, f"the worker stopped ({redact(str(exc))}); it resumes later")
                    state = _heartbeat(db, job.id, owner, now(), lease_s)
                    if state is None:
                        return f"job #{job.id}: another runner took it over"
                    if state == "cancelling":
                        return _finish(db, job.id, "cancelled", now())
                    if stop.is_set():
                        return _release(db, job.id, owner, "the worker stopped; it resumes at the next start")
                    pending = next_items(db, job.id, per_district, limit)
                    if not pending:
                        break
                    if job.kind == "bulk_retry":
                        settling |= _retry_chunk(client, db_path, pending, recorder, actor, retry_options)
                    else:
                        _sync_chunk(client, db_path, pending, recorder, actor)
        except SyncAlreadyRunning as exc:
            return _requeue(db, job.id, now() + timedelta(seconds=30), f"waiting: {exc}")
        except CleverError as exc:
            return _finish(db, job.id, "failed", now(), f"Clever refused: {redact(str(exc))}")
        except Exception as exc:  # a bug must not leave the job 'running' forever: its error is kept
            _finish(db, job.id, "failed", now(), f"{type(exc).__name__}: {redact(str(exc))}")
            raise
        if settling:
            return _requeue(db, job.id, now() + timedelta(seconds=_settle_s(retry_options)),
                            "a write an interrupted run left on the wire is checked again once Clever has settled it")
        return _finish(db, job.id, "finished", now())


def _settle_s(retry_options: Any) -> float:
    settle = getattr(retry_options, "settle_s", None)
    return SETTLE_PAUSE_S if settle is None else float(settle) + 0.5


def _list_all_districts(db: sqlite_utils.Database, job_id: int, client: Any) -> None:
    """sync_all's items: every district with a token and every district the cache knows (as the sync pulls)."""
    tokens = {t.district_id for t in client.district_tokens()}
    known = {r[0] for r in db.execute("SELECT id FROM districts").fetchall()}
    with db.conn:
        _insert_items(db, job_id, sorted(tokens | known))
        db.execute("UPDATE queued_jobs SET total = ? WHERE id = ?", [len(tokens | known), job_id])


def _retry_chunk(client: Any, db_path: str | Path, push_ids: list[str], recorder: _Recorder, actor: str,
                 options: Any) -> bool:
    """One `retry_pushes` call; returns True when a push waits for a killed run's write to settle."""
    from lmsdata.pushes import retry_pushes

    settling = False

    def progress(p: Any) -> None:
        nonlocal settling
        item = p.item
        with recorder.lock:
            left_open = item.outcome == "skipped" and log.open_attempt(recorder.db, item.push_id) is not None
            now_sent = item.outcome == "skipped" and (log.get_push(recorder.db, item.push_id) or {}).get("state") \
                == "sent"
        if left_open:  # a killed runner's request may still be processed: this item is not finished
            settling = True
            recorder.item(str(item.push_id), item.outcome, f"waiting: {item.reason}", done=False)
        elif now_sent:  # sent before this run: by the runner that was killed before it wrote the result, or a person
            recorder.item(str(item.push_id), "sent", f"not sent again: {item.reason}")
        else:
            recorder.item(str(item.push_id), item.outcome, item.reason or item.outcome)

    started = time.monotonic()
    report = retry_pushes(client, db_path, [int(i) for i in push_ids], on_progress=progress, actor=actor,
                          options=options)
    recorder.add_usage(report.requests, time.monotonic() - started)
    return settling


def _sync_chunk(client: Any, db_path: str | Path, district_ids: list[str], recorder: _Recorder, actor: str) -> None:
    from lmsdata.sync import sync

    def progress(p: Any) -> None:
        if p.district_id is not None and p.phase in ("done", "failed"):
            recorder.item(p.district_id, "synced" if p.phase == "done" else "failed",
                          f"{p.records:,} records" if p.phase == "done" else "failed")

    started = time.monotonic()
    result = sync(client, db_path, full=False, district_ids=district_ids, on_progress=progress, actor=actor)
    for did, outcome in result.districts.items():  # the sync's own outcome is the item's final result
        recorder.item(did, "synced" if outcome.ok else "failed",
                      f"{outcome.mode}: {outcome.records:,} records, {outcome.requests:,} requests" if outcome.ok
                      else outcome.error or "failed", overwrite=True)
    recorder.add_usage(result.requests, time.monotonic() - started)


def _finish(db: sqlite_utils.Database, job_id: int, state: str, at: datetime, error: str | None = None) -> str:
    with db.conn:
        if state == "cancelled":
            _close_cancelled(db, job_id, iso(at))
            summary = db.execute("SELECT summary FROM queued_jobs WHERE id = ?", [job_id]).fetchone()[0]
        else:
            counts = outcome_counts(db, job_id)
            summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "nothing to do"
            if error:
                summary = f"{error} ({summary})"
        db.execute("UPDATE queued_jobs SET state = ?, finished_at = ?, summary = ?, runner = NULL, lease_until = NULL, "
                   "done = (SELECT COUNT(*) FROM queued_job_items WHERE job_id = ? AND state = 'done') WHERE id = ?",
                   [state, iso(at), summary, job_id, job_id])
        bump_data_version(db)
    return f"job #{job_id} {state}: {summary}"


def _requeue(db: sqlite_utils.Database, job_id: int, not_before: datetime, why: str) -> str:
    """Back to the queue with its remaining items (a sync already running, a write still settling)."""
    with db.conn:
        db.execute("UPDATE queued_job_items SET reason = NULL WHERE job_id = ? AND state = 'pending'", [job_id])
        db.execute("UPDATE queued_jobs SET state = 'queued', not_before = ?, runner = NULL, lease_until = NULL, "
                   "summary = ? WHERE id = ? AND state = 'running'", [iso(not_before), why, job_id])
        bump_data_version(db)
    return f"job #{job_id} waits until {iso(not_before)}: {why}"


def _release(db: sqlite_utils.Database, job_id: int, owner: str, why: str) -> str:
    with db.conn:
        db.execute("UPDATE queued_jobs SET state = 'interrupted', runner = NULL, lease_until = NULL, summary = ? "
                   "WHERE id = ? AND runner = ?", [why, job_id, owner])
    return f"job #{job_id} paused: {why}"
