"""Backups taken while sync and retry write in other processes restore whole; a killed backup leaves nothing."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata import demo
from lmsdata.backup import BackupError, backup, check_backup, list_backups, restore, scheduled_backup
from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.pushes.log import IN_FLIGHT
from tests.cache_fixtures import TODAYS_FIXTURE, rows

ROOT = Path(__file__).resolve().parents[1]
OURS = ("pushes", "push_attempts", "audit_log")



@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[demo.DemoEnvironment]:
    """A `tiny` demo cache (sync, grade pushes with failures, audit) and its sandbox on loopback."""
    env = demo.start(tmp_path_factory.mktemp("live") / "lmsdata.db", scale="tiny")
    try:
        demo.build(env)
        yield env
    finally:
        env.close()


def _cli(env: demo.DemoEnvironment, *args: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "CLEVER_CLIENT_ID": demo.DEMO_CLIENT_ID, "CLEVER_CLIENT_SECRET": demo.DEMO_CLIENT_SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "lmsdata", *args, "--sandbox", env.server.url, "--db", str(env.db_path)],
        cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _assert_consistent_at_one_moment(copy: Path, final_source: Path) -> None:
    """Append-only audit log: the copy's is exactly a prefix of the source's. Each push's attempt count
    is written with its attempts, so a copy torn between transactions would disagree."""
    assert check_backup(copy).schema_version >= 3
    copied = rows(copy, "audit_log")
    assert copied == rows(final_source, "audit_log")[: len(copied)]
    assert _torn_pushes(copy) == []


def _torn_pushes(path: Path) -> list[tuple]:
    """Pushes whose attempt count disagrees with their finished, counted attempts (written together)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT id FROM pushes p WHERE attempts != (SELECT COUNT(*) FROM push_attempts a "
            "WHERE a.push_id = p.id AND a.outcome NOT IN (?, 'skipped'))",
            [IN_FLIGHT],
        ).fetchall()
    finally:
        conn.close()


def test_backups_taken_while_sync_and_retry_run_elsewhere_restore_whole(
    demo_env: demo.DemoEnvironment, tmp_path: Path
) -> None:
    source = demo_env.db_path
    audit_before = len(rows(source, "audit_log"))
    writers = [_cli(demo_env, "sync", "--full"), _cli(demo_env, "retry", "--all-failed")]
    copies = []
    try:
        while any(w.poll() is None for w in writers) or not copies:
            copies.append(backup(source, tmp_path / f"during-{len(copies)}.db").path)
    finally:
        for w in writers:
            w.wait(timeout=120)
    assert writers[0].returncode == 0
    assert _torn_pushes(source) == []
    assert len(rows(source, "audit_log")) > audit_before, "sync and retry wrote while the backups ran"
    for copy in copies:
        restored = tmp_path / f"restored-{copy.name}"
        restore(copy, restored)
        with connect(restored) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        _assert_consistent_at_one_moment(restored, source)
    # With the writers done, a backup equals the source row for row.
    final = backup(source, tmp_path / "after.db").path
    for table in OURS:
        assert rows(final, table) == rows(source, table), table


def test_a_backup_killed_midway_leaves_the_source_and_no_backup_at_dest(
    demo_env: demo.DemoEnvironment, tmp_path: Path
) -> None:
    source = tmp_path / "big.db"
    shutil.copy(demo_env.db_path, source)
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE ballast (b BLOB)")
    conn.executemany("INSERT INTO ballast VALUES (randomblob(65536))", [()] * 3000)  # ~200 MB: slow to copy
    conn.commit()
    conn.close()
    before = {t: rows(source, t) for t in OURS}
    dest = tmp_path / "out" / "backup.db"
    process = subprocess.Popen([sys.executable, "-m", "lmsdata", "backup", str(dest), "--db", str(source)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not list(dest.parent.glob(".backup.db.*.partial")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the backup ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not dest.exists()
    for partial in dest.parent.iterdir():
        with pytest.raises(BackupError):
            check_backup(partial)
    assert {t: rows(source, t) for t in OURS} == before
    with connect(source) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_restore_refuses_an_existing_cache_without_force_and_a_damaged_backup(tmp_path: Path) -> None:
    live = tmp_path / "lmsdata.db"
    shutil.copy(TODAYS_FIXTURE, live)
    with connect(live) as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('marker', 'live')")
        db.conn.commit()
    good = backup(TODAYS_FIXTURE, tmp_path / "good.db").path
    with pytest.raises(BackupError, match=r"already a cache .* --force"):
        restore(good, live)
    assert rows(live, "meta")[-1] == ("marker", "live")
    damaged = tmp_path / "damaged.db"
    data = bytearray(good.read_bytes())
    data[4096 * 3 : 4096 * 3 + 200] = b"\xff" * 200
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError):
        restore(damaged, live, force=True)
    assert rows(live, "meta")[-1] == ("marker", "live")
    restore(good, live, force=True)
    assert ("marker", "live") not in rows(live, "meta")
    assert rows(live, "pushes") == rows(TODAYS_FIXTURE, "pushes")


def test_the_cli_backs_up_and_restores_and_says_why_it_refuses(tmp_path: Path) -> None:
    live = tmp_path / "lmsdata.db"
    shutil.copy(TODAYS_FIXTURE, live)
    runner = CliRunner()
    made = runner.invoke(cli, ["backup", str(tmp_path / "b.db"), "--db", str(live)])
    assert made.exit_code == 0, made.output
    assert "Backed up to" in made.output
    refused = runner.invoke(cli, ["restore", str(tmp_path / "b.db"), "--db", str(live)])
    assert refused.exit_code == 2 and "--force" in refused.output
    missing = runner.invoke(cli, ["restore", str(tmp_path / "nope.db"), "--db", str(live), "--force"])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_scheduled_backups_keep_the_newest_and_leave_other_files(tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    (tmp_path / "notes.txt").write_text("mine")
    made = [scheduled_backup(TODAYS_FIXTURE, tmp_path, keep=3, clock=lambda i=i: start + timedelta(hours=i)).path
            for i in range(5)]  # fmt: skip
    assert list_backups(tmp_path) == made[:-4:-1]
    assert (tmp_path / "notes.txt").exists()
