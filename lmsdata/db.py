"""The local cache: one SQLite file in WAL mode, its versioned schema, and the data version.

Open a fresh `Database` per operation (`open_db`), never share one across threads: Streamlit
runs sessions on different threads and sqlite3 connections refuse that.
Every table is documented in docs/cache-schema.md; keep the two in step.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("lmsdata")


class CacheError(RuntimeError):
    """The cache file is missing, unreadable or damaged; the message says what to do."""


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


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the cache at `path`, in WAL mode, with every migration applied."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("PRAGMA foreign_keys = ON")
        if db.journal_mode != "wal":
            db.enable_wal()
        if migrations.pending(db):
            migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        raise CacheError(
            f"The cache at {path} cannot be read ({exc}). Move it aside and run `lmsdata sync --full` to rebuild it."
        ) from exc
    except OSError as exc:
        raise CacheError(f"The cache at {path} cannot be opened: {exc.strerror or exc}.") from exc
    return db


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
