"""The local cache: one SQLite file in WAL mode, its versioned schema, and the data version.

Open a fresh `Database` per operation (`open_db`), never share one across threads: Streamlit
runs sessions on different threads and sqlite3 connections refuse that.
Every table is documented in docs/cache-schema.md; keep the two in step.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("lmsdata")

# The rule (docs/cache-schema.md): a table whose rows a full sync from Clever can pull again is
# CLEVER_REBUILDS; a table holding anything that exists nowhere else (what we sent, what Clever
# answered, who did what, what the cache saw over time) is ONLY_WE_HOLD. No "rebuild the cache"
# path deletes or rewrites rows of ONLY_WE_HOLD; every new table goes in exactly one of the sets.
CLEVER_REBUILDS = frozenset({"districts", "schools", "terms", "sections", "section_users", "users",
                             "identity_suspects", "term_figures"})
ONLY_WE_HOLD = frozenset({
    "pushes", "push_attempts", "assignments", "invitations", "audit_log",
    "district_history", "events", "sync_runs", "sync_run_districts",
    "gradebook_rows", "gradebook_sections", "push_approvals",
    "worker_lease", "worker_schedule", "auto_retries", "alerts", "outbox",
    "cases", "case_notes",
    "fix_requests", "fix_request_items",
    "queued_jobs", "queued_job_items",
})
BOOKKEEPING = frozenset({"meta", "_sqlite_migrations"})  # derived counters and the schema's own record


class CacheError(RuntimeError):
    """The cache file is missing, unreadable or damaged; the message says what to do."""


# SQLite's largest row id: a push or invitation id above it cannot exist (and would overflow).
MAX_ROW_ID = 2**63 - 1


def utcnow() -> str:
    """Timestamps are ISO-8601 UTC strings with milliseconds, like Clever's."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@migrations()
def m001_clever_mirror(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE districts (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            lms_type TEXT,              -- canvas | schoology | google_classroom | '' | NULL | unknown kept as is
            lms_state TEXT,             -- success | matching_in_progress | ... | '' | NULL
            last_lms_sync TEXT,
            matched_students REAL,      -- 0-100, NULL when Clever did not report it
            matched_teachers REAL,
            matched_sections REAL,
            sis_state TEXT,             -- district.state (SIS sync)
            sis_error TEXT,
            last_sis_sync TEXT,
            contact_name TEXT,
            contact_email TEXT,
            contact_title TEXT,
            students INTEGER NOT NULL DEFAULT 0,
            teachers INTEGER NOT NULL DEFAULT 0,
            sections INTEGER NOT NULL DEFAULT 0,
            unmatched_students INTEGER NOT NULL DEFAULT 0,
            unmatched_teachers INTEGER NOT NULL DEFAULT 0,
            unsynced_sections INTEGER NOT NULL DEFAULT 0,
            last_event_id TEXT,         -- incremental sync cursor
            last_pulled_at TEXT,        -- end of the last successful pull of this district
            last_sync_error TEXT,       -- NULL after a successful pull
            raw TEXT                    -- the district object as Clever sent it (JSON)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE district_history (
            id INTEGER PRIMARY KEY,
            district_id TEXT NOT NULL,
            pulled_at TEXT NOT NULL,
            sync_run_id INTEGER,
            lms_type TEXT,
            lms_state TEXT,
            last_lms_sync TEXT,
            matched_students REAL,
            matched_teachers REAL,
            matched_sections REAL,
            unmatched_students INTEGER,
            unmatched_teachers INTEGER,
            unsynced_sections INTEGER
        )
        """
    )
    db.execute(
        """
        CREATE TABLE schools (
            id TEXT PRIMARY KEY, district_id TEXT NOT NULL, name TEXT, school_number TEXT,
            sis_id TEXT, low_grade TEXT, high_grade TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE terms (
            id TEXT PRIMARY KEY, district_id TEXT NOT NULL, name TEXT, start_date TEXT, end_date TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sections (
            id TEXT PRIMARY KEY,
            district_id TEXT NOT NULL,
            school_id TEXT,
            term_id TEXT,
            name TEXT,
            period TEXT,
            section_number TEXT,
            sis_id TEXT,
            subject TEXT,
            grade TEXT,
            teacher_id TEXT,
            student_count INTEGER NOT NULL DEFAULT 0,
            synced_in_lms INTEGER,      -- 1, 0, or NULL when Clever does not report it
            last_modified TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE section_users (
            section_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,         -- student | teacher
            district_id TEXT NOT NULL,
            PRIMARY KEY (section_id, user_id)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            district_id TEXT NOT NULL,
            role TEXT NOT NULL,         -- student | teacher | staff | district_admin | contact
            first_name TEXT,
            last_name TEXT,
            email TEXT,
            sis_id TEXT,
            school_id TEXT,
            grade TEXT,
            synced_in_lms INTEGER,      -- 1, 0, or NULL
            last_modified TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            district_id TEXT NOT NULL,
            type TEXT NOT NULL,         -- e.g. users.updated
            created TEXT,
            object_id TEXT,
            previous_attributes TEXT,   -- JSON, NULL unless *.updated
            received_at TEXT NOT NULL,
            sync_run_id INTEGER
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            mode TEXT NOT NULL,         -- full | incremental
            outcome TEXT NOT NULL,      -- running | success | partial | failed | interrupted
            actor TEXT,
            districts_total INTEGER NOT NULL DEFAULT 0,
            districts_failed INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            records INTEGER NOT NULL DEFAULT 0,
            error TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sync_run_districts (
            run_id INTEGER NOT NULL,
            district_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT NOT NULL,      -- running | success | failed
            requests INTEGER NOT NULL DEFAULT 0,
            records INTEGER NOT NULL DEFAULT 0,
            changes INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            duration_s REAL,
            PRIMARY KEY (run_id, district_id)
        )
        """
    )
    for table, columns in [
        ("district_history", ["district_id", "pulled_at"]),
        ("schools", ["district_id"]),
        ("terms", ["district_id"]),
        ("sections", ["district_id", "synced_in_lms"]),
        ("section_users", ["user_id"]),
        ("section_users", ["district_id", "role"]),
        ("users", ["district_id", "role", "synced_in_lms"]),
        ("users", ["synced_in_lms", "role"]),
        ("events", ["district_id", "created"]),
        ("sync_run_districts", ["district_id", "run_id"]),
    ]:
        db.table(table).create_index(columns, if_not_exists=True)


@migrations()
def m002_grade_pushes(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE assignments (
            district_id TEXT NOT NULL,
            section_id TEXT NOT NULL,
            assignment_key TEXT NOT NULL,   -- the partner app's own id for the assignment
            assignment_id TEXT,             -- Clever's UUID: Clever cannot list these later, so keep it
            title TEXT,
            created_at TEXT,
            deleted_at TEXT,                -- set when Clever answers 'Assignment does not exist'
            PRIMARY KEY (district_id, section_id, assignment_key)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE pushes (
            id INTEGER PRIMARY KEY,
            district_id TEXT NOT NULL,
            section_id TEXT NOT NULL,
            assignment_key TEXT NOT NULL,
            student_id TEXT,                -- NULL for assignment writes
            kind TEXT NOT NULL,             -- assignment_create | assignment_update | submission_update
            payload TEXT NOT NULL,          -- JSON body as it is (or was) sent
            state TEXT NOT NULL,            -- pending | sent | failed | superseded | unknown
            category TEXT,                  -- failure category (lmsdata.pushes taxonomy), NULL unless failed/unknown
            last_status INTEGER,
            last_message TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL,           -- api | import | demo
            created_at TEXT NOT NULL,       -- when the partner app produced this payload (orders supersession)
            updated_at TEXT NOT NULL,
            superseded_by INTEGER,
            lease_owner TEXT,               -- set while a retry run holds the push: no double send
            lease_until TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE push_attempts (
            id INTEGER PRIMARY KEY,
            push_id INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            duration_ms REAL,
            http_status INTEGER,            -- NULL for a timeout or dropped connection
            message TEXT,                   -- Clever's message, verbatim (redacted)
            outcome TEXT NOT NULL,          -- sent | failed | unknown | skipped
            trigger TEXT                    -- first | auto | retry
        )
        """
    )
    for table, columns in [
        ("pushes", ["state", "district_id"]),
        ("pushes", ["district_id", "state"]),
        ("pushes", ["section_id", "assignment_key", "student_id", "created_at"]),
        ("pushes", ["category", "state"]),
        ("pushes", ["updated_at"]),
        ("push_attempts", ["push_id"]),
    ]:
        db.table(table).create_index(columns, if_not_exists=True)


@migrations()
def m003_invitations_and_audit(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE invitations (
            id INTEGER PRIMARY KEY,
            district_id TEXT NOT NULL,
            email TEXT NOT NULL,
            message TEXT,
            state TEXT NOT NULL,            -- sent | failed | accepted | expired | cancelled
            error TEXT,
            actor TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            expires_at TEXT,
            accepted_at TEXT,
            cancelled_at TEXT,
            resent_from INTEGER
        )
        """
    )
    db.execute(
        """
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,           -- invite | resend | cancel | retry | sync | reveal ...
            target TEXT,
            params TEXT,                    -- JSON
            outcome TEXT NOT NULL,          -- ok | failed | refused | partial
            detail TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
        """
    )
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.table("invitations").create_index(["district_id", "state"], if_not_exists=True)
    db.table("audit_log").create_index(["at"], if_not_exists=True)


@migrations()
def m005_worker(db: sqlite_utils.Database) -> None:
    """The worker's state (docs/worker.md): only we hold these rows; Clever cannot rebuild them."""
    db.execute(
        """
        CREATE TABLE worker_lease (
            name TEXT PRIMARY KEY,          -- 'worker': one active worker per cache
            owner TEXT NOT NULL,            -- host:pid:random of the holder
            acquired_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            until TEXT NOT NULL             -- a holder that stops renewing loses the lease after this
        )
        """
    )
    db.execute(
        """
        CREATE TABLE worker_schedule (
            job TEXT PRIMARY KEY,           -- sync | full_sync | expire_invitations | auto_retry | notify | digest
            last_started_at TEXT,
            last_finished_at TEXT,
            last_outcome TEXT,              -- ok | failed
            last_detail TEXT,
            next_run_at TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE auto_retries (
            push_id INTEGER PRIMARY KEY,
            attempts INTEGER NOT NULL DEFAULT 0,   -- automatic attempts made so far
            next_at TEXT,                   -- when the next automatic attempt is due
            state TEXT NOT NULL,            -- waiting | handed_off | released | sent
            note TEXT,                      -- why (handed off after N attempts; released because ...)
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            subject TEXT NOT NULL,          -- a district id, an error signature, or 'worker'
            state TEXT NOT NULL,            -- open | resolved
            detail TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            last_notified_at TEXT,
            notifications INTEGER NOT NULL DEFAULT 0,
            resolved_at TEXT,
            resolution TEXT,
            acked_by TEXT,
            acked_at TEXT,
            snoozed_until TEXT
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX alerts_one_open ON alerts (rule, subject) WHERE state = 'open'")
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            event_key TEXT NOT NULL,        -- alert:ID:opened | alert:ID:renotify:N | alert:ID:resolved | digest:DATE
            channel TEXT NOT NULL,          -- a hash of the channel URL, never the URL (a secret)
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL,            -- pending | sent
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            sent_at TEXT,
            last_error TEXT,
            UNIQUE (event_key, channel)
        )
        """
    )
    db.table("alerts").create_index(["state", "rule"], if_not_exists=True)
    db.table("outbox").create_index(["state", "next_attempt_at"], if_not_exists=True)
    db.table("auto_retries").create_index(["state", "next_at"], if_not_exists=True)


@migrations()
def m006_casework(db: sqlite_utils.Database) -> None:
    """Cases on districts and failure clusters; only we hold them (Clever cannot rebuild them)."""
    db.execute(
        """
        CREATE TABLE cases (
            subject TEXT PRIMARY KEY,       -- district id, or cluster:<key>
            assignee TEXT,                  -- e-mail of a signed-in user
            state TEXT NOT NULL DEFAULT 'open',
            snoozed_until TEXT,             -- ISO date
            ticket_id TEXT,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE case_notes (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL REFERENCES cases(subject),
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            body TEXT NOT NULL
        )
        """
    )
    db.table("case_notes").create_index(["subject", "at"], if_not_exists=True)


@migrations()
def m007_gradebook(db: sqlite_utils.Database) -> None:
    """What the LMS gradebook says about our pushes, and operators' holds overrides (docs/gradebook.md)."""
    db.execute(
        """
        CREATE TABLE gradebook_rows (
            district_id TEXT NOT NULL,
            section_id TEXT NOT NULL,
            assignment_key TEXT NOT NULL,
            student_id TEXT NOT NULL,
            assignment_id TEXT,
            push_id INTEGER NOT NULL,       -- our newest push for this student and assignment
            state TEXT NOT NULL,            -- landed | missing | different | override | assignment_gone
            our_grade TEXT,                 -- JSON {grade, grade_points} we pushed
            lms_grade TEXT,
            lms_grade_points REAL,
            lms_grader_id TEXT,
            lms_last_modified TEXT,
            checked_at TEXT NOT NULL,
            PRIMARY KEY (district_id, section_id, assignment_key, student_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE gradebook_sections (
            district_id TEXT NOT NULL,
            section_id TEXT NOT NULL,
            reconciled_at TEXT NOT NULL,    -- incremental cursor: pushes updated after it are read again
            requests INTEGER NOT NULL,
            PRIMARY KEY (district_id, section_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE push_approvals (
            kind TEXT NOT NULL,             -- overwrite_teacher (subject: push id) | identity (subject: user id)
            subject TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (kind, subject)
        )
        """
    )
    db.table("gradebook_rows").create_index(["district_id", "state"], if_not_exists=True)
    db.table("gradebook_rows").create_index(["push_id"], if_not_exists=True)


@migrations()
def m009_fix_requests(db: sqlite_utils.Database) -> None:
    """What we asked a district to fix and which items a later sync showed fixed (docs/casework.md)."""
    db.execute(
        """
        CREATE TABLE fix_requests (
            id INTEGER PRIMARY KEY,
            district_id TEXT NOT NULL,
            email TEXT NOT NULL,            -- where it was sent
            message TEXT,                   -- the operator's message, as sent
            state TEXT NOT NULL,            -- sending | open | failed | closed
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            error TEXT,                     -- why the send failed (redacted)
            reminders INTEGER NOT NULL DEFAULT 0,
            last_reminded_at TEXT,
            closed_at TEXT,
            closed_by TEXT,                 -- 'system' when every item was fixed, else who closed it
            close_reason TEXT               -- all fixed | closed by hand
        )
        """
    )
    db.execute(
        """
        CREATE TABLE fix_request_items (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES fix_requests(id),
            kind TEXT NOT NULL,             -- student | teacher | section
            object_id TEXT NOT NULL,        -- Clever's user or section id
            name TEXT,                      -- as sent to the district (unmasked: it is their data)
            email TEXT,
            sis_id TEXT,
            school TEXT,
            teacher TEXT,                   -- a section's teacher
            reason_code TEXT NOT NULL,      -- lmsdata.fixrequests.Reason.code
            reason TEXT NOT NULL,           -- the sentence the district read
            resolved_at TEXT,               -- when a sync showed it fixed
            resolution TEXT                 -- fixed | gone (no longer in Clever's roster)
        )
        """
    )
    db.table("fix_requests").create_index(["district_id", "state"], if_not_exists=True)
    db.table("fix_requests").create_index(["state"], if_not_exists=True)
    db.table("fix_request_items").create_index(["request_id", "resolved_at"], if_not_exists=True)


@migrations()
def m010_push_search(db: sqlite_utils.Database) -> None:
    """Indexes only: a push found from a ticket by student, teacher, section, assignment or day is an
    index seek (`lmsdata.pushes.search`), and a district's audit entries for its timeline too."""
    for name, table, columns in [
        ("users_email_nocase", "users", "email COLLATE NOCASE"),
        ("users_sis_id", "users", "sis_id"),
        ("users_last_name_nocase", "users", "last_name COLLATE NOCASE"),
        ("users_full_name_nocase", "users", "(first_name || ' ' || last_name) COLLATE NOCASE"),
        ("pushes_student", "pushes", "student_id"),
        ("pushes_assignment_key", "pushes", "assignment_key"),
        ("pushes_created_at", "pushes", "created_at"),
        ("sections_teacher", "sections", "teacher_id"),
        ("sections_sis_id", "sections", "sis_id"),
        ("sections_name_nocase", "sections", "name COLLATE NOCASE"),
        ("assignments_assignment_id", "assignments", "assignment_id"),
        ("assignments_title_nocase", "assignments", "title COLLATE NOCASE"),
        ("audit_log_target", "audit_log", "target, id"),
    ]:
        db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")


@migrations()
def m011_job_queue(db: sqlite_utils.Database) -> None:
    """Dashboard actions queued for the worker (docs/worker.md#the-job-queue): only we hold these rows."""
    db.execute(
        """
        CREATE TABLE queued_jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,             -- sync_all | sync_districts | bulk_retry
            params TEXT NOT NULL,           -- JSON: push_ids, district_ids
            requested_by TEXT NOT NULL,     -- the audit name of who queued it
            requested_at TEXT NOT NULL,
            state TEXT NOT NULL,            -- queued running cancelling cancelled finished failed interrupted
            not_before TEXT,                -- a queued job waits until then (a write left on the wire settling)
            runner TEXT,                    -- host:pid:random of the runner holding it (its lease)
            heartbeat_at TEXT,
            lease_until TEXT,               -- a runner that stops renewing loses the job after this
            runs INTEGER NOT NULL DEFAULT 0, -- how many runners started it (more than 1: resumed)
            started_at TEXT,
            finished_at TEXT,
            cancel_requested_by TEXT,
            cancel_requested_at TEXT,
            done INTEGER NOT NULL DEFAULT 0,
            total INTEGER,                  -- NULL until the items are known (sync_all lists them when it starts)
            estimate_requests INTEGER,      -- lmsdata.budget at enqueue
            estimate_seconds REAL,
            actual_requests INTEGER NOT NULL DEFAULT 0,
            actual_seconds REAL NOT NULL DEFAULT 0,
            summary TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE queued_job_items (
            job_id INTEGER NOT NULL REFERENCES queued_jobs(id),
            position INTEGER NOT NULL,
            item TEXT NOT NULL,             -- a push id (bulk_retry) or a district id (sync)
            district_id TEXT,               -- the item's district: each run takes a few items of every district
            state TEXT NOT NULL,            -- pending | done | cancelled
            outcome TEXT,                   -- sent | failed | skipped | superseded | unknown | synced
            reason TEXT,
            finished_at TEXT,
            PRIMARY KEY (job_id, position)
        )
        """
    )
    db.table("queued_jobs").create_index(["state", "id"], if_not_exists=True)
    db.table("queued_job_items").create_index(["job_id", "state"], if_not_exists=True)


@migrations()
def m008_identity_suspects(db: sqlite_utils.Database) -> None:
    """Suspected duplicate students, stored when a sync writes the district (docs/gradebook.md), so the
    readiness check reads one indexed row per push instead of running the rules per district; and two
    indexes the pages need on a large cache (issue 10's page times: docs/dashboard.md)."""
    from lmsdata.gradebook.identity import refresh_suspects

    db.execute(
        """
        CREATE TABLE identity_suspects (
            district_id TEXT NOT NULL,
            user_id TEXT NOT NULL,          -- one row per member of each group
            position INTEGER NOT NULL,      -- the group's place in the district's list (rule order)
            rule TEXT NOT NULL,             -- lmsdata.gradebook.identity.RULES
            value TEXT NOT NULL,            -- what they share
            user_ids TEXT NOT NULL,         -- the whole group, space-separated, sorted
            PRIMARY KEY (district_id, user_id, position)
        ) WITHOUT ROWID
        """
    )
    refresh_suspects(db)  # an existing cache: once, for every district
    # the Gradebook page's counts per assignment, read from the index alone (no row lookups)
    db.table("gradebook_rows").create_index(["district_id", "section_id", "assignment_key", "state", "checked_at"],
                                            if_not_exists=True)
    # the readiness snapshot's "create pushes of this district that have not gone through"
    db.table("pushes").create_index(["district_id", "kind", "state"], if_not_exists=True)


@migrations()
def m012_term_figures(db: sqlite_utils.Database) -> None:
    """Each term's section and matched-student counts, kept by sync (`lmsdata.terms.store_figures`):
    derived from Clever's data, so Clever can rebuild them; counted here once for existing caches."""
    db.execute(
        """
        CREATE TABLE term_figures (
            district_id TEXT NOT NULL,
            term_id TEXT NOT NULL,
            name TEXT,
            start_date TEXT,
            end_date TEXT,
            sections INTEGER NOT NULL,
            synced_sections INTEGER NOT NULL,
            students INTEGER NOT NULL,        -- distinct students in the term's sections
            matched_students INTEGER NOT NULL,
            PRIMARY KEY (district_id, term_id)
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS sections_term ON sections (term_id)")
    from lmsdata.terms import store_figures

    for (district_id,) in db.execute("SELECT id FROM districts").fetchall():
        store_figures(db, district_id)


@migrations()
def m013_history_index(db: sqlite_utils.Database) -> None:
    """Index only: when each district's lms_state began (`status.lms_state_since`) is a few seeks per
    district instead of reading a month of 15-minute pulls (bench/alerts.py, docs/worker.md#figures)."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS district_history_state ON district_history (district_id, lms_state, pulled_at)"
    )


def usable_cache_path(path: str | Path) -> Path:
    """`path` if a cache can live there; CacheError naming the file in the way if a folder of the
    path is a regular file (`sync`, `status` and the dashboard all say the same)."""
    path = Path(path)
    if path.is_dir():
        raise CacheError(f"The cache path {path} is a folder; give a file name such as {path / 'lmsdata.db'}.")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise CacheError(
                f"The cache path {path} is inside {parent}, which is a file, not a folder: "
                "choose another path (--db or LMSDATA_DB)."
            )
    return path


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the cache at `path`, in WAL mode, with every migration applied."""
    path = usable_cache_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("PRAGMA foreign_keys = ON")
        setting_up = db.journal_mode != "wal" or bool(migrations.pending(db))
        with _setup_lock(path) if setting_up else contextlib.nullcontext():
            if db.journal_mode != "wal":  # re-read under the lock: another process may have done it
                db.enable_wal()
            migrate(db)
    except sqlite3.DatabaseError as exc:
        raise CacheError(
            f"The cache at {path} cannot be read ({exc}). Move it aside and run `lmsdata sync --full` to rebuild it."
        ) from exc
    except OSError as exc:
        raise CacheError(f"The cache at {path} cannot be opened: {exc.strerror or exc}.") from exc
    return db


@contextlib.contextmanager
def _setup_lock(path: Path) -> Iterator[None]:
    """Processes opening a brand-new cache at the same moment take turns to switch it to WAL and
    migrate it: SQLite can answer "database is locked" to a journal-mode change while another
    connection is setting the file up. The OS drops the lock if the process dies."""
    with open(str(path) + ".setup-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unknown_migrations(db: sqlite_utils.Database, migration_set: Migrations = migrations) -> list[str]:
    """Migrations recorded in the file that this code does not know: a newer release wrote it."""
    known = {m.name for m in migration_set._migrations}
    return [m.name for m in migration_set.applied(db) if m.name not in known]


def schema_version(db: sqlite_utils.Database, migration_set: Migrations = migrations) -> int:
    """How many of the set's migrations the file has applied (the fixture files are named by it)."""
    return len(migration_set.applied(db))


def migrate(db: sqlite_utils.Database, migration_set: Migrations = migrations) -> None:
    """Bring the file to this code's schema in ONE transaction: all pending migrations, or none.

    sqlite-utils commits each migration on its own; wrapping `apply` in one IMMEDIATE transaction
    turns each into a savepoint, so a failure midway rolls back the earlier ones too, and a second
    process opening the same file waits for the first one's migrations instead of racing them.
    A file from a newer release is refused before anything is written.
    """
    newer = unknown_migrations(db, migration_set)
    if newer:
        raise CacheError(
            f"This cache was written by a newer release of lmsdata (it has schema changes "
            f"{', '.join(newer)} that this version does not know). Upgrade lmsdata, or restore a backup "
            f"taken by this version; the file was not changed."
        )
    if not migration_set.pending(db):
        return
    with write_transaction(db):
        migration_set.apply(db)


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error: the write lock is taken up front, so two
    writers never both read, then write on what the other changed meanwhile."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()


def within_transaction(db: sqlite_utils.Database) -> contextlib.AbstractContextManager[None]:
    """Join the caller's open transaction, or open a write transaction of its own."""
    return contextlib.nullcontext() if db.conn.in_transaction else write_transaction(db)


@contextlib.contextmanager
def connect(path: str | Path) -> Iterator[sqlite_utils.Database]:
    """`with connect(path) as db:` opens the cache for one operation and always closes it."""
    db = open_db(path)
    try:
        yield db
    finally:
        db.close()


def data_version(db: sqlite_utils.Database) -> int:
    """A number that changes whenever a sync, retry or invitation changes what the pages show."""
    row = db.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
    return int(row[0]) if row else 0


def bump_data_version(db: sqlite_utils.Database) -> None:
    """Call inside the same transaction as the change it announces."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('data_version', '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )
