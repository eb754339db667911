"""The worker's jobs, wired to the library: sync then alert rules, nightly full sync, invitations, delivery.

Each job is a `runner.Job` whose step opens what it needs (a Clever client, the cache) and returns a
one-line summary for `worker_schedule.last_detail`. The clock is injected so tests drive it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from lmsdata import fixrequests, inputs
from lmsdata.config import Settings
from lmsdata.db import connect
from lmsdata.pushes.log import iso
from lmsdata.worker import schedule
from lmsdata.worker.alerts import reconcile
from lmsdata.worker.autoretry import ACTOR
from lmsdata.worker.config import WorkerConfig
from lmsdata.worker.notify import deliver
from lmsdata.worker.release import release_fixed
from lmsdata.worker.rules import CLUSTER_RULE, DISTRICT_RULES, evaluate, failure_clusters
from lmsdata.worker.runner import Job


def build_jobs(settings: Settings, config: WorkerConfig, now: Callable[[], datetime],
               stop: threading.Event | None = None) -> dict[str, Job]:
    """The jobs in the order one cycle runs them (sync before the rules' delivery); `stop` pauses a queued job."""
    s = config.schedules

    def every(seconds: float) -> Callable[[datetime], datetime]:
        return lambda at: schedule.next_after(at, every_s=seconds)

    def daily(at_hhmm: str) -> Callable[[datetime], datetime]:
        return lambda at: schedule.next_after(at, daily_at=at_hhmm)

    jobs = {
        "queued_jobs": Job(lambda: run_queued_jobs(settings, now, stop), every(s.jobs_s)),
        "sync": Job(lambda: sync_and_evaluate(settings, config, now, full=False), every(s.sync_s)),
        "full_sync": Job(lambda: sync_and_evaluate(settings, config, now, full=True), daily(s.full_sync_at),
                         first_after=daily(s.full_sync_at)),
        "expire_invitations": Job(lambda: expire_invitations(settings, now), every(s.expire_invitations_s)),
        "auto_retry": Job(lambda: auto_retry(settings, config, now), every(s.auto_retry_s)),
        "notify": Job(lambda: deliver_outbox(settings, config, now), every(s.notify_s)),
        "reconcile": Job(lambda: reconcile_gradebooks(settings), every(s.reconcile_s)),
        "retention": Job(lambda: trim_old_attempts(settings, now), daily(s.retention_at),
                         first_after=daily(s.retention_at)),
        "digest": Job(lambda: daily_digest(settings, config, now), daily(s.digest_at), first_after=daily(s.digest_at)),
    }
    backups = backup_settings()
    if backups is not None:
        directory, keep, hours = backups
        jobs["backup"] = Job(lambda: back_up(settings, directory, keep, now), every(hours * 3600))
    if not config.auto_retry:
        del jobs["auto_retry"]
    return jobs


def run_queued_jobs(settings: Settings, now: Callable[[], datetime], stop: threading.Event | None = None,
                    retry_options: Any = None) -> str:
    """The dashboard's queued jobs (lmsdata.jobqueue), one after another until none is waiting."""
    from lmsdata.client import CleverClient
    from lmsdata.jobqueue import run_next

    ran = []
    while not (stop and stop.is_set()):
        line = run_next(lambda: CleverClient.from_settings(settings), settings.db_path, now=now,
                        retry_options=retry_options, stop=stop)
        if line is None:
            break
        ran.append(line)
    return "; ".join(ran) or "no job waiting"


def sync_and_evaluate(settings: Settings, config: WorkerConfig, now: Callable[[], datetime], *, full: bool) -> str:
    """One sync (as `lmsdata sync` runs it), the pushes it unblocked, then every alert rule over the cache."""
    from lmsdata.client import CleverClient
    from lmsdata.sync import sync

    with CleverClient.from_settings(settings) as client:
        result = sync(client, settings.db_path, full=full, actor=ACTOR)
        released = f"; {release_fixed(client, settings.db_path, iso(now()))}" if config.auto_release else ""
    with connect(settings.db_path) as db:  # sync resolved fixed items; this also fails sends that never ended
        fixrequests.refresh(db, now=now())
    opened = evaluate_rules(settings, config, now())
    failed = f", {len(result.failed)} failed" if result.failed else ""
    return (f"{'full' if full else 'incremental'} sync run {result.run_id}: {len(result.districts)} districts"
            f"{failed}, {result.records:,} records{released}; {opened} alert(s) open")


def evaluate_rules(settings: Settings, config: WorkerConfig, at: datetime) -> int:
    """Reconcile the alerts with what the rules find now; returns how many alerts are open."""
    from lmsdata.queries import FAILED_STATES
    from lmsdata.status import district_rows

    a = config.alerts
    with connect(settings.db_path) as db:
        rows = with_terms(db, with_history(db, district_rows(db, now=at, thresholds=config.health),
                                           a.history_window_hours), at)
        found = evaluate(rows, config.thresholds_for, at)
        failures = db.query(
            f"SELECT district_id, last_message, updated_at FROM pushes WHERE state IN "
            f"({', '.join('?' for _ in FAILED_STATES)}) AND updated_at >= ?",
            [*FAILED_STATES, iso(at - timedelta(minutes=a.cluster_window_minutes))],
        )
        found.update(failure_clusters(failures, min_districts=a.cluster_districts,
                                      window_minutes=a.cluster_window_minutes, now=at))
        reconcile(db, found, rules=[*DISTRICT_RULES, CLUSTER_RULE], now=at, renotify_hours=a.renotify_hours,
                  channels=config.channels)
        return int(db.execute("SELECT COUNT(*) FROM alerts WHERE state = 'open'").fetchone()[0])


def with_history(db: sqlite_utils.Database, rows: list[dict[str, Any]], window_hours: float = 24.0
                 ) -> list[dict[str, Any]]:
    """Add what the rules compare with from district_history: `was_success` (lms_state was 'success' in
    some earlier pull), and over the pulls in the `window_hours` before the newest one, the best matched
    percentage (`matched_before`) and the fewest unmatched students (`unmatched_before`)."""
    # Per district through the (district_id, pulled_at) index: a scan of the whole history took seconds
    # on a month of 15-minute pulls (bench/alerts.py). The newest pull is the district's last_pulled_at.
    succeeded = {r[0] for r in db.execute(
        "SELECT d.id FROM districts d WHERE EXISTS (SELECT 1 FROM district_history h "
        "WHERE h.district_id = d.id AND h.lms_state = 'success')"
    ).fetchall()}
    before = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT d.id, MAX(h.matched_students), MIN(h.unmatched_students) FROM districts d "
        "JOIN district_history h ON h.district_id = d.id AND h.pulled_at < d.last_pulled_at "
        "AND h.pulled_at >= strftime('%Y-%m-%dT%H:%M:%fZ', d.last_pulled_at, ?) GROUP BY d.id",
        [f"-{window_hours * 3600:.0f} seconds"],
    ).fetchall()}
    return [{**row, "was_success": row["id"] in succeeded, "matched_before": before.get(row["id"], (None,))[0],
             "unmatched_before": before.get(row["id"], (None, None))[1]} for row in rows]


def with_terms(db: sqlite_utils.Database, rows: list[dict[str, Any]], at: datetime) -> list[dict[str, Any]]:
    """Add each district's term readiness (`term_grade`, `term_reason`) for the term rule."""
    from lmsdata.terms import grade_term, term_figures_by_district

    figures = term_figures_by_district(db, today=at.date())
    graded = []
    for row in rows:
        verdict = grade_term(row["id"], figures.get(row["id"], []), at.date())
        graded.append({**row, "term_grade": verdict.grade, "term_reason": verdict.reason})
    return graded


def expire_invitations(settings: Settings, now: Callable[[], datetime]) -> str:
    from lmsdata.invitations import refresh_states

    with connect(settings.db_path) as db:
        counts = refresh_states(db, now())
    return ", ".join(f"{n} {state}" for state, n in counts.items())


def auto_retry(settings: Settings, config: WorkerConfig, now: Callable[[], datetime]) -> str:
    from lmsdata.client import CleverClient
    from lmsdata.worker.autoretry import run_auto_retries

    with CleverClient.from_settings(settings) as client:
        return run_auto_retries(client, settings.db_path, config.backoff_s, now())


def reconcile_gradebooks(settings: Settings) -> str:
    from lmsdata.client import CleverClient
    from lmsdata.gradebook import reconcile as reconcile_gradebook

    with CleverClient.from_settings(settings) as client:
        report = reconcile_gradebook(client, settings.db_path, actor=ACTOR)
    found = ", ".join(f"{n} {state}" for state, n in report.summary().items() if n) or "nothing new"
    return f"{report.sections} section(s), {report.requests} request(s): {found}"


def backup_settings(environ: Mapping[str, str] | None = None) -> tuple[str, int, int] | None:
    """(directory, how many to keep, every N hours) from LMSDATA_BACKUP_*; None when no directory is set."""
    env = os.environ if environ is None else environ
    directory = env.get("LMSDATA_BACKUP_DIR", "").strip()
    if not directory:
        return None
    keep = inputs.whole_number("LMSDATA_BACKUP_KEEP", env.get("LMSDATA_BACKUP_KEEP", "14"), low=1, high=10_000,
                               unit="backups")
    hours = inputs.whole_number("LMSDATA_BACKUP_EVERY_HOURS", env.get("LMSDATA_BACKUP_EVERY_HOURS", "24"), low=1,
                                high=24 * 366, unit="hours")
    return directory, keep, hours


def back_up(settings: Settings, directory: str, keep: int, now: Callable[[], datetime]) -> str:
    from lmsdata.backup import scheduled_backup

    info = scheduled_backup(settings.db_path, directory, keep, now)
    return f"backup {info.path.name}: {info.size_bytes:,} bytes, schema {info.schema_version}; kept the {keep} newest"


def trim_old_attempts(settings: Settings, now: Callable[[], datetime]) -> str:
    from lmsdata.retention import retain_days_from_env, trim_attempt_bodies

    days = retain_days_from_env()
    result = trim_attempt_bodies(settings.db_path, days, now=now())
    return f"{result.attempts_trimmed} attempt message(s) older than {days} days trimmed"


def daily_digest(settings: Settings, config: WorkerConfig, now: Callable[[], datetime]) -> str:
    from lmsdata.worker.digest import queue_digest

    with connect(settings.db_path) as db:
        return queue_digest(db, config.channels, now())


def deliver_outbox(settings: Settings, config: WorkerConfig, now: Callable[[], datetime]) -> str:
    with connect(settings.db_path) as db:
        sent = deliver(db, config.channels, now())
        pending = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
    return f"{sent} notification(s) sent, {pending} pending"
