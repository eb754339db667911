"""Backup of a `large`-sized cache: time, size, and the longest write stall a concurrent writer saw.

Run: .venv/bin/python bench/backup.py [--users 1117278] [--memberships 4394824] [--pushes 200000]

The cache is generated with SQL straight into the real schema (rows shaped like the `large`
sandbox's: 1,117,278 users, 4,394,824 section memberships, plus a push log), because syncing
`large` over HTTP takes minutes on a shared machine (bench/sync.py measures that path). A writer in
another process then commits one small transaction (a push and an attempt, like a retry) every
5 ms; the longest commit is measured for the same length of time without a backup (the baseline,
same run) and while `lmsdata.backup.backup` copies the cache.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata.backup import backup  # noqa: E402
from lmsdata.db import connect  # noqa: E402


def generate(path: Path, users: int, memberships: int, pushes: int) -> None:
    with connect(path) as db:
        db.execute("PRAGMA synchronous = OFF")
        sql = db.conn.execute
        sql("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO users (id, district_id, role, first_name, last_name, email, sis_id, school_id, grade,
                               synced_in_lms, last_modified)
            SELECT printf('%024x', i), printf('d%05d', i % 520), CASE WHEN i % 20 = 0 THEN 'teacher' ELSE 'student' END,
                   'First' || i, 'Last' || i, 'user' || i || '@example.org', 'sis' || i, printf('s%06d', i % 9000),
                   i % 12, i % 7 != 0, '2026-11-01T00:00:00.000Z' FROM n""", [users])
        sql("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO section_users (section_id, user_id, role, district_id)
            SELECT printf('sec%021x', i / 25), printf('%024x', 1 + (i * 7919) % ?), 'student', printf('d%05d', i % 520)
            FROM n""", [memberships, users])
        sql("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO pushes (district_id, section_id, assignment_key, student_id, kind, payload, state, attempts,
                                source, created_at, updated_at)
            SELECT printf('d%05d', i % 520), printf('sec%021x', i / 30), 'a' || (i % 40), printf('%024x', i),
                   'submission_update', '{"grade": "' || (i % 100) || '", "points": ' || (i % 100) || '}',
                   CASE WHEN i % 9 = 0 THEN 'failed' ELSE 'sent' END, 1, 'api',
                   '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z' FROM n""", [pushes])
        sql("""INSERT INTO push_attempts (push_id, started_at, duration_ms, http_status, message, outcome, trigger)
            SELECT id, created_at, 120.0, CASE state WHEN 'sent' THEN 200 ELSE 409 END,
                   CASE state WHEN 'sent' THEN NULL ELSE 'Student is not in this section' END, state, 'first'
            FROM pushes""")
        db.conn.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def writer(path: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Commit a push and its attempt every 5 ms for `seconds`; report the longest commit in ms."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    longest = 0.0
    commits = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "INSERT INTO pushes (district_id, section_id, assignment_key, kind, payload, state, source, created_at, "
            "updated_at) VALUES ('d1', 's1', 'a1', 'submission_update', '{}', 'sent', 'api', 'now', 'now')"
        )
        conn.execute(
            "INSERT INTO push_attempts (push_id, started_at, outcome) VALUES (?, 'now', 'sent')", [cursor.lastrowid]
        )
        conn.execute("COMMIT")
        longest = max(longest, (time.perf_counter() - start) * 1000)
        commits += 1
        time.sleep(0.005)
    out.put((longest, commits))


def stall_while(path: Path, seconds: float, action=None) -> tuple[float, int, float]:  # type: ignore[no-untyped-def]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=writer, args=(str(path), seconds, queue))
    process.start()
    time.sleep(0.5)
    took = 0.0
    if action is not None:
        start = time.perf_counter()
        action()
        took = time.perf_counter() - start
    longest, commits = queue.get()
    process.join()
    return longest, commits, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_117_278)
    parser.add_argument("--memberships", type=int, default=4_394_824)
    parser.add_argument("--pushes", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmsdata-bench-backup-") as scratch:
        source, dest = Path(scratch) / "lmsdata.db", Path(scratch) / "backup.db"
        start = time.perf_counter()
        generate(source, args.users, args.memberships, args.pushes)
        size = source.stat().st_size
        print(f"generated {size / 1e6:.0f} MB cache in {time.perf_counter() - start:.1f} s "
              f"({args.users:,} users, {args.memberships:,} memberships, {args.pushes:,} pushes)")
        quiet = time.perf_counter()
        backup(source, dest)
        alone = time.perf_counter() - quiet
        dest.unlink()
        print(f"backup with no writer: {alone:.2f} s, {size / 1e6 / alone:.0f} MB/s")
        window = max(3.0, alone * 2 + 1.5)
        base_longest, base_commits, _ = stall_while(source, window)
        longest, commits, took = stall_while(source, window, lambda: backup(source, dest))
        print(f"backup during writes: {took:.2f} s, backup file {dest.stat().st_size / 1e6:.0f} MB")
        print(f"writer's longest commit: baseline {base_longest:.1f} ms ({base_commits} commits), "
              f"during backup {longest:.1f} ms ({commits} commits); ratio {longest / base_longest:.2f}; "
              f"goal < 100 ms: {'met' if longest < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
