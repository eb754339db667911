"""Backups taken while sync and retry write in other processes restore whole; a killed backup leaves nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata import demo
from lmsdata.backup import (
    BackupError,
    Pace,
    backup,
    check_backup,
    list_backups,
    remove_stale_partials,
    restore,
    scheduled_backup,
)
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
        # The restored cache is the copy plus one entry: the restore itself (written after it).
        *copied_log, restored_entry = rows(restored, "audit_log")
        assert copied_log == rows(copy, "audit_log")
        assert (restored_entry[3], restored_entry[6]) == ("restore", "ok") and str(copy) in restored_entry[7]
        for table in OURS[:2]:
            assert rows(restored, table) == rows(copy, table), table
        _assert_consistent_at_one_moment(copy, source)
    # With the writers done, a backup equals the source row for row.
    final = backup(source, tmp_path / "after.db").path
    for table in OURS:
        assert rows(final, table) == rows(source, table), table


def _ballasted_copy(demo_env: demo.DemoEnvironment, path: Path) -> Path:
    """The demo cache plus ~200 MB of ballast: slow enough to copy that a backup can be killed midway."""
    shutil.copy(demo_env.db_path, path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE ballast (b BLOB)")
    conn.executemany("INSERT INTO ballast VALUES (randomblob(65536))", [()] * 3000)
    conn.commit()
    conn.close()
    return path


def _backup_process(
    source: Path, dest: Path, *, not_named: Collection[Path] = ()
) -> tuple[subprocess.Popen[bytes], Path]:
    """A real `lmsdata backup` running in another process, and its partial file once pages reach it
    (the backup's audit entry is written by then: it comes before the copy)."""
    process = subprocess.Popen([sys.executable, "-m", "lmsdata", "backup", str(dest), "--db", str(source)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for partial in set(dest.parent.glob(f".{dest.name}.*.partial")) - set(not_named):
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_size:
                    return process, partial
        time.sleep(0.01)
    process.kill()
    raise AssertionError("the backup never started writing its partial file")


def _kill(process: subprocess.Popen[bytes]) -> None:
    assert process.poll() is None, "the backup ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_a_backup_killed_midway_leaves_the_source_and_no_backup_at_dest(
    demo_env: demo.DemoEnvironment, tmp_path: Path
) -> None:
    source = _ballasted_copy(demo_env, tmp_path / "big.db")
    before = {t: rows(source, t) for t in OURS}
    dest = tmp_path / "out" / "backup.db"
    process, _ = _backup_process(source, dest)
    _kill(process)
    assert not dest.exists()
    for partial in dest.parent.iterdir():
        with pytest.raises(BackupError):
            check_backup(partial)
    assert {t: rows(source, t) for t in OURS if t != "audit_log"} == {t: before[t] for t in OURS if t != "audit_log"}
    audit_log = rows(source, "audit_log")
    assert audit_log[: len(before["audit_log"])] == before["audit_log"]
    added = [(r[3], r[4], r[6]) for r in audit_log[len(before["audit_log"]) :]]  # action, target, outcome
    assert added == [("backup", str(dest), "ok")], "only the backup's own entry, written before its snapshot"
    with connect(source) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_next_backup_removes_what_a_killed_one_left_and_nothing_else(
    demo_env: demo.DemoEnvironment, tmp_path: Path
) -> None:
    source = _ballasted_copy(demo_env, tmp_path / "big.db")
    dest = tmp_path / "out" / "backup.db"
    first, stale = _backup_process(source, dest)
    _kill(first)
    assert stale.exists(), "kill -9 left the partial file behind"
    others = [dest.parent / name for name in (
        ".other.db.abcd1234.partial",  # another DEST's
        ".backup.db.abcd1234.partial.keep", "backup.db.abcd1234.partial", ".backup.db.partial", "notes.txt",
    )]  # fmt: skip
    for path in others:
        path.write_text("not a partial file of this backup's")

    running, live = _backup_process(source, dest, not_named={stale})
    assert not stale.exists(), "the new backup removed the killed one's partial file"
    removed = remove_stale_partials(dest.parent, lambda name: name == dest.name)
    assert live not in removed, "a running backup keeps its file"
    _kill(running)
    assert live.exists()

    made = backup(source, dest, pace=Pace(step_pages=-1, pause_s=0, sync_bytes=0))
    assert check_backup(made.path).schema_version >= 3
    assert sorted(dest.parent.iterdir()) == sorted([dest, *others])


def test_a_paced_backup_keeps_one_snapshot_while_another_connection_commits(tmp_path: Path) -> None:
    """Small steps with pauses: the copy is the cache at one moment, not restarted by each commit."""
    source = _fixture_copy(tmp_path)
    with connect(source):  # WAL, as a live cache
        pass
    done, committed = threading.Event(), [0]

    def write() -> None:  # commits until the backup is done (or 50,000, so a restarting copy would end)
        conn = sqlite3.connect(source, isolation_level=None, timeout=30)
        while not done.is_set() and committed[0] < 50_000:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, 'w')", [f"w{committed[0]:06d}"])
            committed[0] += 1
            time.sleep(0.0005)
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copy = backup(source, tmp_path / "copy.db", pace=Pace(step_pages=1, pause_s=0.002, sync_bytes=8192)).path
        at_end = committed[0]
    finally:
        done.set()
        writer.join()
    copied = [key for key, _ in rows(copy, "meta") if key.startswith("w")]
    assert copied == [f"w{i:06d}" for i in range(len(copied))], "a prefix of the commits: one moment"
    assert len(copied) < at_end < 50_000, "commits during the copy are not in it, and it finished meanwhile"
    assert rows(copy, "audit_log")[-1][3] == "backup"


def test_backup_and_restore_are_in_the_audit_log_of_the_cache_they_act_on(tmp_path: Path) -> None:
    live = tmp_path / "lmsdata.db"
    shutil.copy(TODAYS_FIXTURE, live)
    runner = CliRunner()

    def audit(path: Path) -> list[dict[str, str]]:
        shown = runner.invoke(cli, ["audit", "--format", "json", "--db", str(path)])
        assert shown.exit_code == 0, shown.output
        return json.loads(shown.output)

    made = runner.invoke(cli, ["backup", str(tmp_path / "b.db"), "--actor", "ana@support", "--db", str(live)])
    assert made.exit_code == 0, made.output
    newest = audit(live)[0]
    assert (newest["actor"], newest["action"], newest["target"], newest["outcome"]) == (
        "ana@support", "backup", str(tmp_path / "b.db"), "ok")
    assert audit(tmp_path / "b.db")[0] == newest, "the backup holds its own entry"
    with connect(live) as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('marker', 'after the backup')")
        db.conn.commit()

    restored = runner.invoke(cli, ["restore", str(tmp_path / "b.db"), "--force", "--actor", "ben@support",
                                   "--db", str(live)])  # fmt: skip
    assert restored.exit_code == 0, restored.output
    entries = audit(live)
    assert (entries[0]["actor"], entries[0]["action"], entries[0]["target"], entries[0]["outcome"]) == (
        "ben@support", "restore", str(live), "ok")
    assert str(tmp_path / "b.db") in entries[0]["detail"]
    assert entries[1] == newest
    assert ("marker", "after the backup") not in rows(live, "meta")


def _fixture_copy(directory: Path) -> Path:
    """Today's schema fixture, copied: a backup writes its audit entry into the cache it copies."""
    return Path(shutil.copy(TODAYS_FIXTURE, directory / "fixture.db"))


def test_restore_refuses_an_existing_cache_without_force_and_a_damaged_backup(tmp_path: Path) -> None:
    live = tmp_path / "lmsdata.db"
    shutil.copy(TODAYS_FIXTURE, live)
    with connect(live) as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('marker', 'live')")
        db.conn.commit()
    fixture = _fixture_copy(tmp_path)
    good = backup(fixture, tmp_path / "good.db").path
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
    assert rows(live, "pushes") == rows(fixture, "pushes")


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
    fixture = _fixture_copy(tmp_path)
    # What a scheduled backup killed mid-copy leaves (no process holds it), and a manual backup's.
    dead = tmp_path / ".lmsdata-20261130T030000000000Z.db.k1ll3d_9.partial"
    others = [tmp_path / ".fixture.db.abcd1234.partial", tmp_path / ".lmsdata-x.db.abcd1234.partial"]
    for path in (dead, dead.with_name(dead.name + "-journal"), *others):
        path.write_bytes(b"SQLite format 3\x00 cut short")
    made = [scheduled_backup(fixture, tmp_path, keep=3, clock=lambda i=i: start + timedelta(hours=i)).path
            for i in range(5)]  # fmt: skip
    assert list_backups(tmp_path) == made[:-4:-1]
    assert sorted(tmp_path.iterdir()) == sorted([*made[2:], tmp_path / "notes.txt", fixture, *others])


def test_a_backup_that_fails_after_its_entry_adds_a_failed_entry_and_leaves_no_file(tmp_path: Path) -> None:
    """A cache from a newer release copies, then fails the check: the log says so, DEST never appears."""
    source = _fixture_copy(tmp_path)
    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('lmsdata', 'm999_from_the_future', '2027-01-01')")  # fmt: skip
    conn.commit()
    conn.close()
    before = rows(source, "audit_log")
    dest = tmp_path / "out" / "b.db"
    with pytest.raises(BackupError, match="newer release"):
        backup(source, dest, actor="ana@support")
    added = [(r[2], r[3], r[4], r[6]) for r in rows(source, "audit_log")[len(before) :]]
    assert added == [("ana@support", "backup", str(dest), "ok"), ("ana@support", "backup", str(dest), "failed")]
    assert "newer release" in rows(source, "audit_log")[-1][7]
    assert list(dest.parent.iterdir()) == []
