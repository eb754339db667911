"""The cache file: WAL, migrations once, append-only audit, damaged files reported plainly."""

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lmsdata import audit
from lmsdata.db import CacheError, bump_data_version, connect, data_version, migrations, open_db


def test_new_cache_is_wal_with_every_migration_applied(db_path: Path) -> None:
    with connect(db_path) as db:
        assert db.journal_mode == "wal"
        assert migrations.pending(db) == []
        assert {"districts", "users", "sections", "pushes", "invitations", "audit_log"} <= set(db.table_names())


def test_reopening_applies_nothing_twice(db_path: Path) -> None:
    with connect(db_path) as db:
        applied = [m.name for m in migrations.applied(db)]
    with connect(db_path) as db:
        assert [m.name for m in migrations.applied(db)] == applied


def test_data_version_counts_changes(db_path: Path) -> None:
    with connect(db_path) as db:
        assert data_version(db) == 0
        bump_data_version(db)
        bump_data_version(db)
        assert data_version(db) == 2


def test_audit_log_refuses_edits_and_redacts_secrets(db_path: Path) -> None:
    from lmsdata.redact import register_secret

    register_secret("tok-abcdef123456")
    with connect(db_path) as db:
        audit.record(db, actor="ana@example.com", action="retry", target="push:1", outcome="failed",
                     params={"token": "tok-abcdef123456"}, detail="Bearer tok-abcdef123456 refused")
        row = audit.entries(db)[0]
        assert "tok-abcdef123456" not in row["params"] + row["detail"]
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit_log SET outcome = 'ok'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit_log")


def test_damaged_cache_gives_a_plain_error(tmp_path: Path) -> None:
    damaged = tmp_path / "lmsdata.db"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match=r"cannot be read.*lmsdata sync --full"):
        open_db(damaged)


def _open_when_released(path: str, start: Any) -> str:
    start.wait()
    try:
        open_db(path).close()
    except Exception as exc:  # the message is the assertion's evidence
        return repr(exc)
    return "ok"


def test_processes_opening_a_brand_new_cache_at_once_all_get_it_migrated(tmp_path: Path) -> None:
    """Worker, dashboard and CLI started together on a fresh machine: none may fail on setup."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        for attempt in range(4):
            path = str(tmp_path / f"fresh-{attempt}.db")
            start = manager.Barrier(6)
            with context.Pool(6) as pool:
                outcomes = pool.starmap(_open_when_released, [(path, start)] * 6)
            assert outcomes == ["ok"] * 6
            with connect(path) as db:
                assert not migrations.pending(db)
                assert db.journal_mode == "wal"
