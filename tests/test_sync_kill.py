"""A sync killed with SIGKILL (a real subprocess) leaves every district's previous complete state."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import sqlite_utils

from lmsdata.db import connect
from lmsdata.sync import sync
from tests.sync_fixtures import CLIENT_ID, CLIENT_SECRET, assert_mirrors, client_for, served

ROOT = Path(__file__).resolve().parents[1]


def _start_sync(url: str, db_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "lmsdata", "sync", "--sandbox", url, "--db", str(db_path), *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _users_requests(sandbox) -> int:  # type: ignore[no-untyped-def]
    return sandbox.stats()["requests_by_route"].get("GET /v3.1/users", 0)


def _runs(db_path: Path) -> int:
    with connect(db_path) as db:
        return int(db.execute("SELECT COUNT(*) FROM sync_runs").fetchone()[0])


def assert_each_district_is_whole(db: sqlite_utils.Database) -> None:
    """The counts on each district row were written with its rows, so they must agree."""
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for did, students, teachers, sections in db.execute(
        "SELECT id, students, teachers, sections FROM districts WHERE last_pulled_at IS NOT NULL"
    ).fetchall():
        counted = db.execute(
            "SELECT SUM(role = 'student'), SUM(role = 'teacher') FROM users WHERE district_id = ?", [did]
        ).fetchone()
        n_sections = db.execute("SELECT COUNT(*) FROM sections WHERE district_id = ?", [did]).fetchone()[0]
        assert (students, teachers, sections) == (*counted, n_sections), did


def test_a_sync_killed_midway_keeps_the_previous_state_and_the_next_sync_completes(tmp_path: Path) -> None:
    db_path = tmp_path / "cache.db"
    with served() as (sandbox, url):
        with client_for(url) as client:
            sync(client, db_path, full=True)
        target = sorted(sandbox.district_ids())[0]  # with --concurrency 1 it is pulled first
        with connect(db_path) as db:
            before = sorted(db.execute("SELECT * FROM users WHERE district_id = ?", [target]).fetchall())
            state_before = db.execute("SELECT lms_state, students FROM districts WHERE id = ?", [target]).fetchone()
        sections = sandbox.sections(target)
        for _ in range(3):
            sandbox.add_user(target, role="student", section_ids=[sections[0]["id"]])
        sandbox.set_lms_state(target, "error")

        # The target's user listing hangs; kill the sync while it waits for it.
        seen = _users_requests(sandbox)
        sandbox.inject("/v3.1/users", delay_s=15)
        process = _start_sync(url, db_path, "--full", "--concurrency", "1")
        deadline = time.monotonic() + 30
        while _users_requests(sandbox) == seen and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the sync ended before it could be killed"
        process.kill()
        process.wait()

        with connect(db_path) as db:
            assert_each_district_is_whole(db)
            after = sorted(db.execute("SELECT * FROM users WHERE district_id = ?", [target]).fetchall())
            assert after == before
            assert db.execute("SELECT lms_state, students FROM districts WHERE id = ?", [target]).fetchone() == (
                state_before
            )
            assert db.execute("SELECT outcome FROM sync_runs ORDER BY id DESC").fetchone()[0] == "running"

        with client_for(url) as client:
            result = sync(client, db_path)
        assert result.failed == {}
        with connect(db_path) as db:
            for did in sandbox.district_ids():
                assert_mirrors(db, sandbox, did)
            runs = db.execute("SELECT outcome FROM sync_runs ORDER BY id").fetchall()
            assert [r[0] for r in runs] == ["success", "interrupted", "success"]
            interrupted = db.execute(
                "SELECT outcome, error FROM sync_run_districts WHERE run_id = 2 AND district_id = ?", [target]
            ).fetchone()
            assert interrupted[0] == "failed" and "interrupted" in interrupted[1]


def test_kills_at_arbitrary_moments_never_leave_a_half_written_district(tmp_path: Path) -> None:
    db_path = tmp_path / "cache.db"
    with served() as (sandbox, url):
        with client_for(url) as client:
            sync(client, db_path, full=True)
        for did in sandbox.district_ids()[:6]:
            sandbox.add_user(did, role="teacher", section_ids=[sandbox.sections(did)[0]["id"]])
        for delay in (0.0, 0.1, 0.2, 0.35):  # after the run starts; a demo sync takes under a second
            runs = _runs(db_path)
            process = _start_sync(url, db_path, "--full", "--concurrency", "2")
            deadline = time.monotonic() + 30
            while _runs(db_path) == runs and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)
            time.sleep(delay)
            process.kill()
            process.wait()
            with connect(db_path) as db:
                assert_each_district_is_whole(db)
        with client_for(url) as client:
            assert sync(client, db_path, full=True).failed == {}
        with connect(db_path) as db:
            for did in sandbox.district_ids():
                assert_mirrors(db, sandbox, did)
