"""Pull Clever into the cache: a full sync, or an incremental one through the Events API.

Each district is pulled over the network first and then written in ONE transaction, so a crash,
a kill or a failing district leaves that district's previous complete state. Districts run
concurrently on a bounded thread pool, each thread with its own SQLite connection; SQLite
serialises the (short) write transactions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata import audit, fixrequests, invitations, models, terms
from lmsdata.access import Actor, Permission
from lmsdata.client import CleverClient, DistrictClient
from lmsdata.db import bump_data_version, connect, usable_cache_path, utcnow, write_transaction
from lmsdata.errors import BadRequest, CleverError, NotFound
from lmsdata.gradebook.identity import refresh_suspects
from lmsdata.models import Event
from lmsdata.redact import redact
from lmsdata.wording import plural

log = logging.getLogger("lmsdata.sync")
# A sync's threads pull concurrently but write one at a time anyway (SQLite has one writer). Taking
# turns here, without a deadline, keeps them off SQLite's busy timeout, which the write of a big
# district can outlast on a loaded machine ("database is locked" for the district waiting behind it).
_WRITE_TURN = threading.Lock()

# Clever keeps events for 30 days; an older cursor may silently skip dropped events.
CURSOR_MAX_AGE = timedelta(days=29)
NO_EVENTS_YET = ""  # cursor stored when the feed was empty at the full sync: replay from the start

MIRROR_TABLES = ("users", "sections", "section_users", "schools", "terms")


class SyncAlreadyRunning(RuntimeError):
    """Another sync holds the cache's sync lock."""


class NoToken(RuntimeError):
    """The token listing has no token for a district we know or were asked for."""

    def __init__(self, district_id: str) -> None:
        super().__init__(
            f"No token for district {district_id} in the app's Clever token list: the district disconnected the "
            "app or its token was revoked; ask the district to reconnect. Its cached data is from its last "
            "successful pull."
        )


@dataclass(frozen=True)
class SyncProgress:
    district_id: str | None
    phase: str  # listing | pulling | writing | done | failed | finished
    districts_done: int
    districts_total: int
    records: int

    def describe(self) -> str:
        """What a progress bar says: '3 of 12 districts · pulling 5f3a…'; '12 of 12 districts · finished'."""
        done = f"{self.districts_done} of {plural(self.districts_total, 'district')}"
        if self.district_id is None or self.phase == "finished":
            return f"{done} · {self.phase}"
        return f"{done} · {self.phase} {self.district_id}"


@dataclass
class DistrictOutcome:
    district_id: str
    mode: str
    ok: bool
    requests: int = 0
    records: int = 0
    changes: int = 0
    error: str | None = None
    duration_s: float = 0.0


@dataclass
class SyncResult:
    run_id: int
    mode: str
    districts: dict[str, DistrictOutcome] = field(default_factory=dict)
    requests: int = 0
    records: int = 0
    duration_s: float = 0.0

    @property
    def failed(self) -> dict[str, str]:
        return {d: o.error or "failed" for d, o in self.districts.items() if not o.ok}

    @property
    def outcome(self) -> str:
        failed = len(self.failed)
        if not failed:
            return "success"
        return "failed" if failed == len(self.districts) else "partial"


@dataclass
class _Pulled:
    """Everything one district's pull produced, ready for one write transaction."""

    mode: str
    district: dict[str, Any]
    cursor: str | None
    records: int = 0
    schools: list[tuple[Any, ...]] = field(default_factory=list)
    terms: list[tuple[Any, ...]] = field(default_factory=list)
    sections: list[tuple[Any, ...]] = field(default_factory=list)
    members: list[tuple[Any, ...]] = field(default_factory=list)
    users: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def sync(
    client: CleverClient,
    db_path: str | Path,
    full: bool = False,
    district_ids: Sequence[str] | None = None,
    concurrency: int = 4,
    on_progress: Callable[[SyncProgress], None] | None = None,
    actor: Actor = "system",
) -> SyncResult:
    """Sync every district the app has a token for (or only `district_ids`) into the cache.

    A signed-in `actor` needs the operator role (AccessDenied, audited, before Clever is called).
    """
    who = audit.authorize(db_path, actor, Permission.SYNC, action="sync", target=_target(district_ids),
                          params={"mode": "full" if full else "incremental"})
    with _sync_lock(db_path):
        return _run(client, db_path, full, district_ids, concurrency, _Progress(on_progress), who)


def _run(
    client: CleverClient,
    db_path: str | Path,
    full: bool,
    district_ids: Sequence[str] | None,
    concurrency: int,
    progress: _Progress,
    actor: str,
) -> SyncResult:
    started = time.monotonic()
    with connect(db_path) as db:
        _close_interrupted_runs(db)
        run_id = _start_run(db, "full" if full else "incremental", actor)
    result = SyncResult(run_id=run_id, mode="full" if full else "incremental")
    try:
        progress.report(None, "listing", 0, 0)
        listing_before = client.token_requests
        tokens = {t.district_id for t in client.district_tokens()}
        listing = client.token_requests - listing_before
        with connect(db_path) as db:
            known = [r[0] for r in db.execute("SELECT id FROM districts ORDER BY id").fetchall()]
        targets = list(dict.fromkeys(district_ids)) if district_ids else sorted(tokens | set(known))
        progress.total = len(targets)
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sync") as pool:
            for outcome in pool.map(
                lambda did: _sync_district(client, db_path, run_id, did, full, did in tokens, progress), targets
            ):
                result.districts[outcome.district_id] = outcome
    except BaseException as exc:
        result.duration_s = time.monotonic() - started
        interrupted = not isinstance(exc, Exception)
        _finish_run(db_path, result, actor, district_ids,
                    error="interrupted" if interrupted else redact(str(exc)),
                    outcome="interrupted" if interrupted else "failed")
        raise
    result.requests = listing + sum(o.requests for o in result.districts.values())  # this run's only
    result.records = sum(o.records for o in result.districts.values())
    result.duration_s = time.monotonic() - started
    _finish_run(db_path, result, actor, district_ids)
    progress.report(None, "finished", result.records)
    return result


@contextlib.contextmanager
def _sync_lock(db_path: str | Path) -> Iterator[None]:
    """One sync at a time per cache; the OS drops the lock if the process dies."""
    lock_path = Path(str(usable_cache_path(db_path)) + ".sync-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a")
    try:
        _flock_soon(handle)
    except BlockingIOError:
        handle.close()
        raise SyncAlreadyRunning(
            "Another sync of this cache is running; wait for it to finish (see `lmsdata status`)."
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _flock_soon(handle: Any) -> None:
    """Take the lock, waiting a moment: `sync_in_progress` may be holding it for a microsecond."""
    for _ in range(4):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.05)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


@contextlib.contextmanager
def _writing(db: sqlite_utils.Database) -> Iterator[None]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads first and writes later fails at once with "database is
    locked" when another district committed in between; an immediate one waits its turn.
    """
    with _WRITE_TURN, write_transaction(db):
        yield


class _Progress:
    """Thread-safe progress reporting to the caller's callback."""

    def __init__(self, callback: Callable[[SyncProgress], None] | None) -> None:
        self.callback = callback
        self.total = 0
        self.done = 0
        self.records = 0
        self._lock = threading.Lock()

    def report(self, district_id: str | None, phase: str, records: int = 0, total: int | None = None) -> None:
        with self._lock:
            if phase in ("done", "failed"):
                self.done += 1
                self.records += records
            if self.callback is not None:
                self.callback(SyncProgress(district_id, phase, self.done, self.total if total is None else total,
                                           self.records))


RUN_STATES = ("running", "finished", "interrupted")


def run_state(outcome: str, sync_in_progress: bool) -> str:
    """The one verdict on a sync run: still `running`, `finished` (its per-district outcomes are
    final), or `interrupted` (stopped before the end: killed, Ctrl-C, or crashed).

    A run still recorded as running while no sync holds the lock was killed; the next sync
    closes it and writes its audit row."""
    if outcome == "running":
        return "running" if sync_in_progress else "interrupted"
    return "interrupted" if outcome == "interrupted" else "finished"


def sync_in_progress(db_path: str | Path) -> bool:
    """True while a sync process holds this cache's sync lock (the OS releases it if it dies)."""
    lock_path = Path(str(db_path) + ".sync-lock")
    if not lock_path.is_file():
        return False
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _close_interrupted_runs(db: sqlite_utils.Database) -> None:
    """Runs left 'running' by a killed process (we hold the sync lock, so none is alive): closed,
    and each gets the audit row its process could not write."""
    now = utcnow()
    with _writing(db):
        for run in db.query("SELECT id, mode, actor, started_at FROM sync_runs WHERE outcome = 'running'"):
            done = db.execute(
                "SELECT COUNT(*) FROM sync_run_districts WHERE run_id = ? AND outcome = 'success'", [run["id"]]
            ).fetchone()[0]
            audit.record(
                db, actor=run["actor"] or "system", action="sync", target=f"sync run #{run['id']}",
                outcome="failed", params={"mode": run["mode"], "run_id": run["id"]},
                detail=f"interrupted: the sync started {run['started_at']} stopped before the end (noticed by the "
                       f"next sync); {done} district(s) were written, the others kept their previous data",
            )  # fmt: skip
        db.execute(
            "UPDATE sync_run_districts SET outcome = 'failed', finished_at = ?, "
            "error = 'interrupted: the sync stopped before this district was written; its previous data is kept' "
            "WHERE outcome = 'running'",
            [now],
        )
        db.execute(
            "UPDATE sync_runs SET outcome = 'interrupted', finished_at = ?, error = 'the sync process stopped' "
            "WHERE outcome = 'running'",
            [now],
        )


def _start_run(db: sqlite_utils.Database, mode: str, actor: str) -> int:
    with _writing(db):
        cursor = db.execute(
            "INSERT INTO sync_runs (started_at, mode, outcome, actor) VALUES (?, ?, 'running', ?)",
            [utcnow(), mode, actor],
        )
    return int(cursor.lastrowid or 0)


def _finish_run(
    db_path: str | Path,
    result: SyncResult,
    actor: str,
    district_ids: Sequence[str] | None,
    error: str | None = None,
    outcome: str | None = None,
) -> None:
    outcome = outcome or result.outcome
    failed = result.failed
    with connect(db_path) as db, _writing(db):
        db.execute(
            "UPDATE sync_runs SET finished_at = ?, outcome = ?, districts_total = ?, districts_failed = ?, "
            "requests = ?, records = ?, error = ? WHERE id = ?",
            [utcnow(), outcome, len(result.districts), len(failed), result.requests, result.records, error,
             result.run_id],
        )
        detail = error or (
            f"{len(result.districts) - len(failed)} of {len(result.districts)} districts synced"
            + (f"; failed: {', '.join(sorted(failed))}" if failed else "")
        )
        audit.record(
            db,
            actor=actor,
            action="sync",
            target=_target(district_ids),
            outcome={"success": "ok", "partial": "partial"}.get(outcome, "failed"),  # interrupted counts as failed
            params={"mode": result.mode, "run_id": result.run_id, "requests": result.requests,
                    "records": result.records},
            detail=detail,
        )
        bump_data_version(db)


def _target(district_ids: Sequence[str] | None) -> str:
    return ",".join(district_ids) if district_ids else "all districts"


def _sync_district(
    client: CleverClient,
    db_path: str | Path,
    run_id: int,
    district_id: str,
    full: bool,
    has_token: bool,
    progress: _Progress,
) -> DistrictOutcome:
    """Pull and write one district; every failure is recorded, never raised."""
    started_at, started = utcnow(), time.monotonic()
    outcome = DistrictOutcome(district_id=district_id, mode="full", ok=False)
    dc: DistrictClient | None = None
    before = 0
    try:
        with connect(db_path) as db:
            _tune_for_bulk_writes(db)
            row = db.execute(
                "SELECT last_event_id, last_pulled_at FROM districts WHERE id = ?", [district_id]
            ).fetchone()
            outcome.mode = _mode(full, row)
            with _writing(db):
                db.execute(
                    "INSERT OR REPLACE INTO sync_run_districts (run_id, district_id, mode, started_at, outcome) "
                    "VALUES (?, ?, ?, ?, 'running')",
                    [run_id, district_id, outcome.mode, started_at],
                )
            if not has_token:
                raise NoToken(district_id)
            progress.report(district_id, "pulling")
            dc = client.district(district_id)
            before = dc.requests_made
            pulled = _pull(dc, outcome.mode, row[0] if row else None)
            outcome.mode = pulled.mode
            outcome.requests = dc.requests_made - before
            outcome.records = pulled.records
            progress.report(district_id, "writing")
            with _writing(db):
                outcome.changes = _write(db, district_id, pulled, run_id)
                outcome.duration_s = time.monotonic() - started
                outcome.ok = True
                _record_district_outcome(db, run_id, outcome)
                bump_data_version(db)
            with _WRITE_TURN:
                invitations.refresh_states(db)  # accept or expire invitations from the fresh lms_state
                fixrequests.refresh(db, district_id=district_id)  # items this pull shows fixed
    except Exception as exc:  # one district's failure must never stop the others
        outcome.ok = False
        outcome.error = _describe(exc)
        outcome.duration_s = time.monotonic() - started
        if dc is not None:
            outcome.requests = dc.requests_made - before
        if not isinstance(exc, (CleverError, NoToken)):
            log.exception("unexpected error while syncing district %s", district_id)
        _record_failure(db_path, run_id, outcome, known_to_clever=has_token)
    progress.report(district_id, "done" if outcome.ok else "failed", outcome.records)
    return outcome


def _tune_for_bulk_writes(db: sqlite_utils.Database) -> None:
    """In WAL mode `synchronous=NORMAL` keeps every commit atomic (a crash loses at most the last
    commits, never consistency) and saves an fsync per transaction; a bigger page cache keeps the
    index b-trees in memory while a large district is rewritten."""
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")


def _mode(full: bool, row: Any) -> str:
    if full or row is None or row[0] is None:
        return "full"
    pulled_at = _parse_time(row[1])
    if pulled_at is None or datetime.now(UTC) - pulled_at > CURSOR_MAX_AGE:
        return "full"
    return "incremental"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, (CleverError, NoToken)):
        return str(exc)
    return redact(f"Unexpected error ({type(exc).__name__}: {exc}); see the log and tell the partner's engineers.")


def _pull(dc: DistrictClient, mode: str, cursor: str | None) -> _Pulled:
    if mode == "incremental":
        try:
            return _pull_events(dc, cursor or NO_EVENTS_YET)
        except (BadRequest, NotFound) as refused:
            log.info("district %s: events cursor refused (%s); doing a full sync", dc.district_id, refused.message)
    return _pull_everything(dc)


def _pull_everything(dc: DistrictClient) -> _Pulled:
    """Every object of the district; the newest event id is read first so nothing is missed later."""
    did = dc.district_id
    latest = dc.latest_event_id()
    pulled = _Pulled(mode="full", district=dc.get_district(), cursor=latest if latest is not None else NO_EVENTS_YET)
    pulled.schools = [models.school_row(o, did) for o in dc.iter_schools()]
    pulled.terms = [models.term_row(o, did) for o in dc.iter_terms()]
    for obj in dc.iter_sections():
        section, members = models.section_rows(obj, did)
        pulled.sections.append(section)
        pulled.members.extend(members)
    pulled.users = [models.user_row(o, did) for o in dc.iter_users()]
    pulled.records = 1 + len(pulled.schools) + len(pulled.terms) + len(pulled.sections) + len(pulled.users)
    return pulled


def _pull_events(dc: DistrictClient, cursor: str) -> _Pulled:
    """The district object (its LMS fields move without events) and every event since the cursor."""
    events = list(dc.iter_events(starting_after=cursor or None))
    pulled = _Pulled(mode="incremental", district=dc.get_district(), cursor=events[-1].id if events else cursor)
    pulled.events = events
    pulled.records = 1 + len(events)
    return pulled


def _insert(db: sqlite_utils.Database, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    placeholders = ", ".join("?" for _ in columns)
    db.conn.executemany(f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)


def _write(db: sqlite_utils.Database, district_id: str, pulled: _Pulled, run_id: int) -> int:
    """Write one district's pull inside the caller's transaction; returns the number of changes."""
    if pulled.mode == "full":
        for table in MIRROR_TABLES:
            db.execute(f"DELETE FROM {table} WHERE district_id = ?", [district_id])
        _insert(db, "schools", models.SCHOOL_COLUMNS, pulled.schools)
        _insert(db, "terms", models.TERM_COLUMNS, pulled.terms)
        _insert(db, "sections", models.SECTION_COLUMNS, pulled.sections)
        _insert(db, "section_users", models.SECTION_USER_COLUMNS, pulled.members)
        _insert(db, "users", models.USER_COLUMNS, pulled.users)
        changes = pulled.records
    else:
        changes = _apply_events(db, district_id, pulled.events, run_id)
    _write_district(db, district_id, pulled, run_id)
    if pulled.mode == "full" or pulled.events:  # no event, nothing changed: what is derived still holds
        refresh_suspects(db, district_id)
        terms.store_figures(db, district_id)
    return changes


_EVENT_ROWS: dict[str, tuple[str, Sequence[str], Callable[[dict[str, Any], str], tuple[Any, ...]]]] = {
    "users": ("users", models.USER_COLUMNS, models.user_row),
    "schools": ("schools", models.SCHOOL_COLUMNS, models.school_row),
    "terms": ("terms", models.TERM_COLUMNS, models.term_row),
}


def _apply_events(db: sqlite_utils.Database, district_id: str, events: Sequence[Event], run_id: int) -> int:
    """Replay events in order. Idempotent: an event seen twice leaves the same state."""
    applied = 0
    for event in events:
        object_id = models.text(event.object.get("id"))
        kind = event.record_type
        if not object_id or kind not in ("users", "sections", "schools", "terms"):
            continue
        applied += 1
        if kind == "sections":
            db.execute("DELETE FROM section_users WHERE section_id = ?", [object_id])
            if event.action == "deleted":
                db.execute("DELETE FROM sections WHERE id = ?", [object_id])
                continue
            section, members = models.section_rows(event.object, district_id)
            _insert(db, "sections", models.SECTION_COLUMNS, [section])
            _insert(db, "section_users", models.SECTION_USER_COLUMNS, members)
            continue
        table, columns, to_row = _EVENT_ROWS[kind]
        if event.action == "deleted":
            db.execute(f"DELETE FROM {table} WHERE id = ?", [object_id])
        else:
            _insert(db, table, columns, [to_row(event.object, district_id)])
    received = utcnow()
    db.conn.executemany(
        "INSERT OR IGNORE INTO events (id, district_id, type, created, object_id, previous_attributes, received_at, "
        "sync_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                e.id,
                district_id,
                e.type,
                e.created,
                models.text(e.object.get("id")),
                json.dumps(e.previous_attributes, sort_keys=True) if e.previous_attributes is not None else None,
                received,
                run_id,
            )
            for e in events
        ),
    )
    return applied


def _write_district(db: sqlite_utils.Database, district_id: str, pulled: _Pulled, run_id: int) -> None:
    """The district row (Clever's fields, our counts, the cursor) and its history snapshot."""
    row = dict(zip(models.DISTRICT_COLUMNS, models.district_row(pulled.district), strict=True))
    row["id"] = district_id
    students, teachers, unmatched_students, unmatched_teachers = db.execute(
        "SELECT COALESCE(SUM(role = 'student'), 0), COALESCE(SUM(role = 'teacher'), 0), "
        "COALESCE(SUM(role = 'student' AND synced_in_lms = 0), 0), "
        "COALESCE(SUM(role = 'teacher' AND synced_in_lms = 0), 0) FROM users WHERE district_id = ?",
        [district_id],
    ).fetchone()
    sections, unsynced = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(synced_in_lms = 0), 0) FROM sections WHERE district_id = ?", [district_id]
    ).fetchone()
    pulled_at = utcnow()
    row.update(
        students=students, teachers=teachers, sections=sections, unmatched_students=unmatched_students,
        unmatched_teachers=unmatched_teachers, unsynced_sections=unsynced, last_event_id=pulled.cursor,
        last_pulled_at=pulled_at, last_sync_error=None,
    )  # fmt: skip
    columns = list(row)
    db.execute(
        f"INSERT INTO districts ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns if c != 'id')}",
        list(row.values()),
    )
    history = ("lms_type", "lms_state", "last_lms_sync", "matched_students", "matched_teachers", "matched_sections",
               "unmatched_students", "unmatched_teachers", "unsynced_sections")
    db.execute(
        f"INSERT INTO district_history (district_id, pulled_at, sync_run_id, {', '.join(history)}) "
        f"VALUES (?, ?, ?, {', '.join('?' for _ in history)})",
        [district_id, pulled_at, run_id, *(row[c] for c in history)],
    )


def _record_district_outcome(db: sqlite_utils.Database, run_id: int, outcome: DistrictOutcome) -> None:
    db.execute(
        "UPDATE sync_run_districts SET mode = ?, finished_at = ?, outcome = ?, requests = ?, records = ?, "
        "changes = ?, error = ?, duration_s = ? WHERE run_id = ? AND district_id = ?",
        [outcome.mode, utcnow(), "success" if outcome.ok else "failed", outcome.requests, outcome.records,
         outcome.changes, outcome.error, round(outcome.duration_s, 3), run_id, outcome.district_id],
    )


def _record_failure(db_path: str | Path, run_id: int, outcome: DistrictOutcome, known_to_clever: bool) -> None:
    """The district keeps its previous data; its row says what went wrong. A district the app has
    a token for but never pulled gets a row (named by its id) so it shows up; a mistyped id does not."""
    try:
        with connect(db_path) as db, _writing(db):
            db.execute("UPDATE districts SET last_sync_error = ? WHERE id = ?", [outcome.error, outcome.district_id])
            if known_to_clever:
                db.execute(
                    "INSERT OR IGNORE INTO districts (id, name, last_sync_error) VALUES (?, ?, ?)",
                    [outcome.district_id, outcome.district_id, outcome.error],
                )
            db.execute(
                "INSERT OR IGNORE INTO sync_run_districts (run_id, district_id, mode, started_at, outcome) "
                "VALUES (?, ?, ?, ?, 'failed')",
                [run_id, outcome.district_id, outcome.mode, utcnow()],
            )
            _record_district_outcome(db, run_id, outcome)
            bump_data_version(db)
    except Exception:
        log.exception("could not record the failure of district %s", outcome.district_id)
