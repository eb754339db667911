"""The embedded default: a demo cache built from the in-process Clever sandbox, no credentials needed.

`start()` serves a sandbox (seeded, so every start has the same districts) on 127.0.0.1 and a local
mail sink; `build()` fills an empty cache through the real code path — a full sync over HTTP,
realistic grade-push traffic, a few invitations — so the demo exercises exactly what production
runs. Later starts reuse the cache and re-create the sandbox from the same seed (`restore` replays
the partner traffic into a scratch cache), so "Sync now", retries and invitations keep working.
Once the cache is built (never during the build, which stays deterministic), `start_worker` runs the
real `lmsdata.worker` loop in a daemon thread with short schedules: queued jobs run, alerts open and
are posted to a local webhook receiver, whose messages the dashboard lists next to the mail sink's.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lmsdata import audit
from lmsdata.config import DEFAULT_DB_PATH, DEMO_DB_PATH, Settings
from lmsdata.db import bump_data_version, connect
from lmsdata.gradebook.demo import reconcile_demo, stage_demo_gradebook

DEMO_SEED = 7
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-sandbox-secret"  # the sandbox's own made-up credential, not a real one
DEMO_ACTOR = "demo"
DEMO_INVITATIONS = 3
DEMO_HISTORY_DAYS = 28
_BUILT_KEY = "demo_built_at"
_build_lock = threading.Lock()
DEMO_TICK_S = 1.0  # the embedded worker looks for due jobs (and queued dashboard jobs) every second
log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class DemoEnvironment:
    """A running sandbox, its HTTP server and a mail sink, plus settings that point at them."""

    sandbox: Any  # lmsdata.sandbox.Sandbox
    server: Any  # lmsdata.sandbox.serve(...) result: .url, .close()
    mail_sink: Any  # lmsdata.mail.MailSink
    settings: Settings
    webhook: Any = None  # lmsdata.worker.receiver.WebhookSink: the alerts' channel
    worker: Any = None  # lmsdata.worker.runner.Worker, once start_worker ran
    worker_thread: threading.Thread | None = None
    _worker_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def db_path(self) -> Path:
        return self.settings.db_path

    def start_worker(self) -> bool:
        """Run the embedded worker (once; call after `build` or `restore`); False if one already runs."""
        with self._worker_lock:
            if self.worker_thread is not None and self.worker_thread.is_alive():
                return False
            self.worker = demo_worker(self)
            self.worker_thread = threading.Thread(target=_run_worker, args=(self.worker,), daemon=True,
                                                  name="lmsdata-demo-worker")
            self.worker_thread.start()
            return True

    def stop_worker(self, timeout_s: float = 30.0) -> None:
        """Ask the embedded worker to stop after its current step, and wait for it (it gives the lease back)."""
        if self.worker is not None:
            self.worker.stop.set()
        if self.worker_thread is not None:
            self.worker_thread.join(timeout=timeout_s)

    def close(self) -> None:
        self.stop_worker()
        self.server.close()
        self.mail_sink.close()
        if self.webhook is not None:
            self.webhook.close()


def demo_db_path(configured: str | Path) -> Path:
    """The demo keeps its own file next to the default cache, so it never mixes with real data;
    an explicitly configured path (LMSDATA_DB) is used as given. `load_settings` already picks
    DEMO_DB_PATH without credentials; this keeps a default path given by hand on the demo's file."""
    configured = Path(configured)
    return DEMO_DB_PATH if configured == DEFAULT_DB_PATH else configured


def start(db_path: str | Path, *, seed: int = DEMO_SEED, scale: str = "demo") -> DemoEnvironment:
    """Serve a fresh sandbox on a free loopback port and open a mail sink and a webhook receiver."""
    from lmsdata.mail import MailSink
    from lmsdata.sandbox import Sandbox, serve
    from lmsdata.worker.receiver import WebhookSink

    sandbox = Sandbox(seed=seed, scale=scale, faults="none", client_id=DEMO_CLIENT_ID,
                      client_secret=DEMO_CLIENT_SECRET)
    server = serve(sandbox, host="127.0.0.1", port=0)
    sink = MailSink()
    settings = replace(
        Settings(),
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        api_url=server.url,
        oauth_url=server.url,
        db_path=Path(db_path),
        smtp_url=sink.url,
    )
    _record_endpoints(Path(db_path), server.url, sink.url)
    return DemoEnvironment(sandbox=sandbox, server=server, mail_sink=sink, settings=settings, webhook=WebhookSink())


# The embedded worker's schedules: short, so a new user sees it work; the first sync, retry and
# gradebook read come one interval after the start (the built demo is what the first pages show).
DEMO_SCHEDULE = {"sync_s": 300.0, "auto_retry_s": 120.0, "notify_s": 5.0, "jobs_s": 1.0,
                 "expire_invitations_s": 3600.0, "reconcile_s": 3600.0}
_FIRST_AFTER_AN_INTERVAL = ("sync", "auto_retry", "expire_invitations", "reconcile")
ALERTS_EVERY_S = 60.0


def demo_worker(env: DemoEnvironment, now: Callable[[], datetime] | None = None) -> Any:
    """The real worker with the demo's settings and schedules, its alerts posted to the local webhook."""
    from lmsdata.worker import schedule
    from lmsdata.worker.config import Channel, Schedules, WorkerConfig
    from lmsdata.worker.jobs import build_jobs, evaluate_rules
    from lmsdata.worker.runner import Job, Worker

    clock = now or (lambda: datetime.now(UTC))
    channels = (Channel(env.webhook.url),) if env.webhook is not None else ()
    config = WorkerConfig(schedules=replace(Schedules(), **DEMO_SCHEDULE), channels=channels, lease_s=30.0)
    stop = threading.Event()
    built = build_jobs(env.settings, config, clock, stop)
    jobs: dict[str, Job] = {}
    for name, job in built.items():
        if name == "notify":  # the rules run between syncs too, so alerts appear before the first demo sync
            jobs["alerts"] = Job(lambda: f"{evaluate_rules(env.settings, config, clock())} alert(s) open",
                                 lambda at: schedule.next_after(at, every_s=ALERTS_EVERY_S))
        if name in _FIRST_AFTER_AN_INTERVAL:
            job = replace(job, first_after=job.next_after)
        jobs[name] = job
    return Worker(env.db_path, jobs, now=clock, lease_s=config.lease_s, stop=stop)


def _run_worker(worker: Any) -> None:
    from lmsdata.worker.lease import LeaseHeld

    try:
        worker.run(tick_s=DEMO_TICK_S)
    except LeaseHeld as exc:  # an `lmsdata worker` already serves this cache: it does the work
        log.info("demo worker not started: %s", exc)
    except Exception:  # the demo keeps serving pages; the sidebar will say the worker is not running
        log.exception("demo worker stopped")


_ENDPOINT_KEYS = ("demo_sandbox_url", "demo_smtp_url")


def _record_endpoints(db_path: Path, sandbox_url: str, smtp_url: str) -> None:
    """Where the running demo serves its sandbox and mail sink, so `--sandbox demo` finds them."""
    with connect(db_path) as db, db.conn:
        for key, value in zip(_ENDPOINT_KEYS, (sandbox_url, smtp_url), strict=True):
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])


def demo_settings(db_path: Path) -> Settings | None:
    """Settings that talk to the running demo's sandbox and mail sink (loopback, made-up
    credentials), or None when no demo has recorded them in this cache."""
    if not Path(db_path).exists():
        return None
    with connect(db_path) as db:
        found = dict(db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", list(_ENDPOINT_KEYS)).fetchall())
    if len(found) != len(_ENDPOINT_KEYS):
        return None
    url = found["demo_sandbox_url"]
    return replace(Settings(), client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, api_url=url,
                   oauth_url=url, db_path=Path(db_path), smtp_url=found["demo_smtp_url"])  # fmt: skip


def is_built(db_path: str | Path) -> bool:
    if not Path(db_path).exists():
        return False
    with connect(db_path) as db:
        return db.execute("SELECT 1 FROM meta WHERE key = ?", [_BUILT_KEY]).fetchone() is not None


def build(env: DemoEnvironment, on_progress: Progress | None = None) -> None:
    """Fill the demo cache once (two sessions starting together build it once)."""
    report = on_progress or (lambda share, text: None)
    with _build_lock:
        if is_built(env.db_path):
            return
        now = datetime.now(UTC)
        _replay(env, env.db_path, report, now)
        report(0.8, "Pulling what changed since (an incremental sync)")
        stage_demo_gradebook(env.sandbox, env.db_path)
        _sync(env, env.db_path, full=False)
        reconcile_demo(env.settings, env.db_path, DEMO_ACTOR)
        report(0.9, "Sending a few LMS Connect invitations")
        send_demo_invitations(env)
        backfill_history(env.db_path, now)
        with connect(env.db_path) as db, db.conn:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [_BUILT_KEY, now.isoformat()])
            audit.record(db, actor=DEMO_ACTOR, action="demo_build", target=str(env.db_path), outcome="ok",
                         params={"seed": DEMO_SEED})
            bump_data_version(db)
        report(1.0, "Done")


def restore(env: DemoEnvironment) -> None:
    """Bring a fresh sandbox to the state the existing demo cache was built against.

    The partner traffic created assignments (with ids derived from the seed and their order) and
    matched some students; replaying it, with the same clock, into a scratch cache recreates exactly
    those, so retries of the cached pushes reach the assignments and students they were built on.
    """
    with connect(env.db_path) as db:
        built_at = db.execute("SELECT value FROM meta WHERE key = ?", [_BUILT_KEY]).fetchone()[0]
    with tempfile.TemporaryDirectory(prefix="lmsdata-demo-") as scratch:
        _replay(env, Path(scratch) / "replay.db", lambda share, text: None, datetime.fromisoformat(built_at))


def _replay(env: DemoEnvironment, db_path: Path, report: Progress, now: datetime) -> None:
    """A full sync, then a few days of a partner app pushing grades (the sandbox changes too)."""
    from lmsdata.client import CleverClient
    from lmsdata.pushes.demo import generate_demo_traffic

    _sync(env, db_path, full=True, report=report)
    report(0.6, "Pushing grades the way a partner app does")
    with CleverClient.from_settings(replace(env.settings, db_path=db_path)) as client:
        generate_demo_traffic(client, env.sandbox, db_path, seed=DEMO_SEED, now=now)


def _sync(env: DemoEnvironment, db_path: Path, *, full: bool, report: Progress | None = None) -> None:
    from lmsdata.client import CleverClient
    from lmsdata.sync import sync

    def progress(p: Any) -> None:
        if report is not None:
            report(0.6 * p.districts_done / max(p.districts_total, 1),
                   f"Pulled {p.districts_done} of {p.districts_total} districts")

    with CleverClient.from_settings(replace(env.settings, db_path=db_path)) as client:
        sync(client, db_path, full=full, actor=DEMO_ACTOR, on_progress=progress)


def send_demo_invitations(env: DemoEnvironment) -> None:
    """Invite the first few districts that have not set up LMS Connect, as support staff would."""
    from lmsdata.invitations import invite
    from lmsdata.mail import Mailer

    with connect(env.db_path) as db:
        waiting = [
            row[0]
            for row in db.execute(
                "SELECT id FROM districts WHERE COALESCE(lms_state, '') = '' AND contact_email IS NOT NULL "
                "ORDER BY name LIMIT ?",
                [DEMO_INVITATIONS],
            )
        ]
    mailer = Mailer.from_url(env.mail_sink.url)
    for district_id in waiting:
        invite(env.db_path, district_id, actor=DEMO_ACTOR, mailer=mailer)


# How each district got where the sandbox has it today: (earlier lms_state, days since it changed).
# Setting up goes '' -> pending_authorization -> initial_sync_processing -> matching_in_progress -> success.
_STORY: dict[str | None, tuple[str | None, int]] = {
    "pending_authorization": ("", 3),
    "initial_sync_processing": ("pending_authorization", 12),  # longer than the stuck threshold
    "matching_in_progress": ("initial_sync_processing", 5),
    "error": ("success", 4),
    "disconnected": ("success", 9),
}


def backfill_history(db_path: str | Path, now: datetime, days: int = DEMO_HISTORY_DAYS) -> int:
    """Give the demo a past: one snapshot a day for `days` days before the first pull, so trends
    and `lms_state` transitions have something to show. Deterministic from the seed; demo only
    (these snapshots were not pulled from anywhere: the demo banner says the districts are made up).
    """
    with connect(db_path) as db:
        districts = list(db.query("SELECT * FROM districts ORDER BY id"))
        first_pull = db.execute("SELECT MIN(pulled_at) FROM district_history").fetchone()[0]
        rows = [
            snapshot
            for district in districts
            for snapshot in _past_snapshots(district, now, days, random.Random(f"history:{DEMO_SEED}:{district['id']}"))
            if first_pull is None or snapshot["pulled_at"] < first_pull
        ]
        with db.conn:
            db.table("district_history").insert_all(rows)
            bump_data_version(db)
    return len(rows)


def _past_snapshots(district: dict[str, Any], now: datetime, days: int, rng: random.Random) -> list[dict[str, Any]]:
    state = district["lms_state"]
    earlier, changed_days_ago = _STORY.get(state, (state, days + 1))
    matching = state == "matching_in_progress"
    span = changed_days_ago if matching else days  # matching climbs fast; settled districts drift up slowly
    counts = {"students": district["students"], "teachers": district["teachers"], "sections": district["sections"]}
    starts = {
        kind: max(0.0, (district[f"matched_{kind}"] or 0.0) - rng.uniform(8, 25) if matching else rng.uniform(1, 6))
        for kind in counts
    }
    snapshots = []
    for day in range(days, 0, -1):
        at = (now - timedelta(days=day)).replace(hour=6, minute=0, second=0, microsecond=0)
        lms_state = state if day < changed_days_ago else earlier
        matched: dict[str, float | None] = {}
        for kind in counts:
            today = district[f"matched_{kind}"]
            if today is None or lms_state in (None, "", "pending_authorization", "initial_sync_processing"):
                matched[kind] = None if today is None or lms_state in (None, "") else 0.0
                continue
            start = starts[kind] if matching else max(0.0, today - starts[kind])
            climbed = start + (today - start) * max(0.0, 1 - day / span)
            matched[kind] = round(max(0.0, min(100.0, climbed - rng.uniform(0, 1))), 1)
        snapshots.append({
            "district_id": district["id"],
            "pulled_at": _stamp(at),
            "sync_run_id": None,
            "lms_type": district["lms_type"] if lms_state not in (None, "") else lms_state,
            "lms_state": lms_state,
            "last_lms_sync": _last_lms_sync(district["last_lms_sync"], at, lms_state),
            **{f"matched_{kind}": matched[kind] for kind in counts},
            **{
                column: None if matched[kind] is None else round(counts[kind] * (100 - matched[kind]) / 100)
                for kind, column in (("students", "unmatched_students"), ("teachers", "unmatched_teachers"),
                                     ("sections", "unsynced_sections"))
            },
        })
    return snapshots


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _last_lms_sync(today: str | None, at: datetime, lms_state: str | None) -> str | None:
    """An hour before the snapshot while the LMS sends data, unless it stopped earlier (a stale district)."""
    if lms_state not in ("success", "matching_in_progress"):
        return today if today and today < _stamp(at) else None
    hour_before = _stamp(at - timedelta(hours=1))
    return min(hour_before, today) if today else hour_before
