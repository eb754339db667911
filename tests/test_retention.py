"""Which tables only we hold, that rebuilding never touches them, and retention of attempt messages."""

from __future__ import annotations

import re
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata import demo
from lmsdata.cli import cli
from lmsdata.db import BOOKKEEPING, CLEVER_REBUILDS, ONLY_WE_HOLD, connect
from lmsdata.retention import retain_days_from_env, trim_attempt_bodies
from lmsdata.sync import MIRROR_TABLES
from tests.cache_fixtures import TODAYS_FIXTURE, rows

ROOT = Path(__file__).resolve().parents[1]
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)



def test_every_table_is_classified_once_and_the_docs_say_the_same(tmp_path: Path) -> None:
    with connect(tmp_path / "new.db") as db:
        tables = set(db.table_names())
    assert not ONLY_WE_HOLD & CLEVER_REBUILDS and not BOOKKEEPING & (ONLY_WE_HOLD | CLEVER_REBUILDS)
    assert tables - {"sqlite_sequence"} == ONLY_WE_HOLD | CLEVER_REBUILDS | BOOKKEEPING
    docs = (ROOT / "docs" / "cache-schema.md").read_text()
    section = docs.split("## Tables only we hold", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^- `(\w+)`", section, re.M)) == set(ONLY_WE_HOLD)
    assert not set(MIRROR_TABLES) & ONLY_WE_HOLD


def test_a_full_sync_keeps_every_row_only_we_hold(tmp_path: Path) -> None:
    path = tmp_path / "lmsdata.db"
    shutil.copy(TODAYS_FIXTURE, path)
    before = {t: rows(path, t) for t in ONLY_WE_HOLD}
    env = demo.start(path, scale="tiny")
    try:
        demo._sync(env, path, full=True)
    finally:
        env.close()
    for table, kept in before.items():
        after = rows(path, table)
        if table == "invitations":  # the sync moves an invitation along its own lifecycle (accepted)
            after, kept = [r[:4] for r in after], [r[:4] for r in kept]
        assert after[: len(kept)] == kept, table
    assert len(rows(path, "sync_runs")) == len(before["sync_runs"]) + 1


def test_retention_trims_only_old_sent_attempt_messages_and_keeps_the_audit_log(tmp_path: Path) -> None:
    path = tmp_path / "lmsdata.db"
    shutil.copy(TODAYS_FIXTURE, path)
    conn = sqlite3.connect(path)
    with conn:  # a push that failed once (Clever said why) and was then sent
        conn.execute(
            "INSERT INTO push_attempts (push_id, started_at, http_status, message, outcome, trigger) "
            "SELECT id, '2026-11-01T00:00:00.000Z', 503, 'Service Unavailable', 'failed', 'first' "
            "FROM pushes WHERE state = 'sent' LIMIT 2"
        )
    pushes, audit = rows(path, "pushes"), rows(path, "audit_log")
    sent_with_message, kept = conn.execute(
        "SELECT SUM(p.state = 'sent'), SUM(p.state != 'sent') FROM push_attempts a JOIN pushes p ON p.id = a.push_id "
        "WHERE a.message IS NOT NULL"
    ).fetchone()
    conn.close()
    assert sent_with_message and kept
    dry = trim_attempt_bodies(path, 30, now=FAR_FUTURE, dry_run=True)
    assert dry.attempts_trimmed == sent_with_message
    assert trim_attempt_bodies(path, 30, now=datetime(2020, 1, 1, tzinfo=UTC)).attempts_trimmed == 0
    done = trim_attempt_bodies(path, 30, now=FAR_FUTURE, vacuum=True)
    assert done.attempts_trimmed == sent_with_message
    conn = sqlite3.connect(path)
    left = conn.execute(
        "SELECT p.state, COUNT(a.message), COUNT(a.outcome) FROM push_attempts a JOIN pushes p ON p.id = a.push_id "
        "GROUP BY p.state"
    ).fetchall()
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    conn.close()
    assert dict((s, m) for s, m, _ in left)["sent"] == 0
    assert all(outcomes for _, _, outcomes in left)
    assert rows(path, "pushes") == pushes and rows(path, "audit_log") == audit


def test_retention_settings_and_cli(tmp_path: Path) -> None:
    assert retain_days_from_env({}) == 180
    assert retain_days_from_env({"LMSDATA_RETAIN_ATTEMPT_BODIES_DAYS": "30"}) == 30
    with pytest.raises(ValueError, match="whole number of days"):
        retain_days_from_env({"LMSDATA_RETAIN_ATTEMPT_BODIES_DAYS": "soon"})
    path = tmp_path / "lmsdata.db"
    shutil.copy(TODAYS_FIXTURE, path)
    result = CliRunner().invoke(cli, ["retention", "--dry-run", "--db", str(path)])
    assert result.exit_code == 0 and "Would trim 0 attempt messages" in result.output
    bad = CliRunner().invoke(cli, ["retention", "--db", str(path)], env={"LMSDATA_RETAIN_ATTEMPT_BODIES_DAYS": "x"})
    assert bad.exit_code == 2 and "whole number of days" in bad.output
