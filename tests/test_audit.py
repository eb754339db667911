"""The audit log is append-only and keeps secrets out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lmsdata import audit
from lmsdata.db import connect
from lmsdata.redact import register_secret


def test_the_audit_log_refuses_updates_and_deletes(db_path: Path) -> None:
    with connect(db_path) as db:
        entry = audit.record(db, actor="pat", action="invite", target="d1", outcome="ok", params={"email": "a@b.org"})
        db.conn.commit()
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit_log SET outcome = 'failed' WHERE id = ?", [entry])
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit_log WHERE id = ?", [entry])
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit_log")
        db.conn.rollback()
        [row] = audit.entries(db)
    assert (row["id"], row["outcome"]) == (entry, "ok")


def test_entries_filter_by_actor_and_action_newest_first(db_path: Path) -> None:
    with connect(db_path) as db:
        for actor, action in [("pat", "invite"), ("sam", "invite"), ("pat", "retry"), ("pat", "invite")]:
            audit.record(db, actor=actor, action=action, target="d1", outcome="ok")
        db.conn.commit()
        assert [r["id"] for r in audit.entries(db, actor="pat", action="invite")] == [4, 1]
        assert [r["actor"] for r in audit.entries(db, limit=2)] == ["pat", "pat"]


def test_unknown_outcome_is_a_programming_error(db_path: Path) -> None:
    with connect(db_path) as db, pytest.raises(ValueError, match="audit outcome must be one of"):
        audit.record(db, actor="pat", action="invite", target="d1", outcome="maybe")


def test_secrets_never_reach_the_log(db_path: Path) -> None:
    register_secret("tok-7f3a9c-secret")
    with connect(db_path) as db:
        audit.record(
            db, actor="pat", action="sync", target="d1", outcome="failed",
            params={"header": "Bearer abc.def"}, detail="403 for token tok-7f3a9c-secret",
        )  # fmt: skip
        [row] = audit.entries(db)
    assert "tok-7f3a9c-secret" not in row["detail"] + row["params"]
    assert "abc.def" not in row["params"]
