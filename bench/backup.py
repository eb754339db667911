"""Backup of a `large`-sized cache: time, size, and the write stalls it causes for a concurrent writer.

Run: .venv/bin/python bench/backup.py [--users 1117278] [--memberships 4394824] [--pushes 200000]
     [--cache PATH (keep the generated cache there and reuse it next time)]

The cache is generated with SQL straight into the real schema (rows shaped like the `large`
sandbox's: 1,117,278 users, 4,394,824 section memberships, plus a push log), because syncing
`large` over HTTP takes minutes on a shared machine (bench/sync.py measures that path). A writer in
another process then commits one small transaction (a push and an attempt, like a retry, with the
app's settings: WAL, synchronous=FULL) every 5 ms. In ONE run, with the same writer, it measures
each commit's time in windows of the same length: no backup (baseline, first and last, to show
how much the machine itself moves), the paced backup (`lmsdata.backup.Pace()`, what
`lmsdata backup` does) and the unpaced one (`UNPACED`: one step, one fsync at the end, the old
way). It prints the longest commit, the p99 and the ratios to the baseline, where in the backup the
three longest commits fell, and the most dirty page-cache memory seen (/proc/meminfo "Dirty").
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata.backup import UNPACED, BackupInfo, Pace, backup  # noqa: E402
from lmsdata.db import connect  # noqa: E402

GOAL_MS = 100.0
TAIL_S = 1.0  # commits this long after a backup still count as its (the checkpoint it held back runs then)


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


def writer(path: str, stop: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Commit a push and its attempt every 5 ms until `stop`; report (start, ms) of every commit.

    time.monotonic is the system-wide CLOCK_MONOTONIC on Linux, so the parent can place each commit
    relative to its backup."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    samples = []
    while not stop.is_set():
        at = time.monotonic()
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
        samples.append((at, (time.perf_counter() - start) * 1000))
        time.sleep(0.005)
    conn.close()
    out.put(samples)


def vacuum_into(source: Path, out: Path) -> None:
    """The other consistent copy SQLite offers: one statement from one snapshot, then fsync it."""
    out.unlink(missing_ok=True)
    conn = sqlite3.connect(source, timeout=30, isolation_level=None)
    try:
        conn.execute("VACUUM INTO ?", [str(out)])
    finally:
        conn.close()
    with open(out, "rb") as handle:
        os.fsync(handle.fileno())
    out.unlink()


class DirtyWatch:
    """The most page-cache memory waiting to be written back, sampled every 50 ms (Linux only)."""

    def __init__(self) -> None:
        self.most_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in Path("/proc/meminfo").read_text().splitlines():
                    if line.startswith("Dirty:"):
                        self.most_kb = max(self.most_kb, int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.05)

    def __enter__(self) -> DirtyWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Window:
    name: str
    samples: list[tuple[float, float]]  # (start, ms) of the commits that count
    took: float  # the backup's duration (or the window's, for a baseline)
    worst: list[tuple[float, float]]  # the three longest: (seconds after the backup began, ms)
    dirty_mb: float
    steps: dict[str, float]  # the backup's seconds per step (BackupInfo.seconds), in order

    def step_at(self, offset: float) -> str:
        """Which step of the backup was running `offset` seconds after it began."""
        end = 0.0
        for step, seconds in self.steps.items():
            end += seconds
            if offset <= end:
                return step
        return "after" if self.steps else "-"

    @property
    def longest(self) -> float:
        return max(ms for _, ms in self.samples)

    @property
    def p99(self) -> float:
        ordered = sorted(ms for _, ms in self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(path: Path, name: str, seconds: float, action: Callable[[], object] | None) -> Window:
    """Run the writer; after 1 s run `action` (or wait `seconds`); keep the commits from its start
    to TAIL_S after its end."""
    context = multiprocessing.get_context("spawn")
    queue, stop = context.Queue(), context.Event()
    process = context.Process(target=writer, args=(str(path), stop, queue))
    process.start()
    time.sleep(1.0)  # the writer's interpreter starts
    with DirtyWatch() as dirty:
        began = time.monotonic()
        info = action() if action is not None else time.sleep(seconds)
        ended = time.monotonic()
        time.sleep(TAIL_S)
    stop.set()
    samples = queue.get(timeout=300)  # the writer ends within a second of `stop`
    process.join()
    counted = [(at, ms) for at, ms in samples if began <= at <= ended + TAIL_S]
    worst = sorted(((at - began, ms) for at, ms in counted), key=lambda s: -s[1])[:3]
    steps = info.seconds if isinstance(info, BackupInfo) else {}
    return Window(name, counted, ended - began, worst, dirty.most_kb / 1024, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_117_278)
    parser.add_argument("--memberships", type=int, default=4_394_824)
    parser.add_argument("--pushes", type=int, default=200_000)
    parser.add_argument("--cache", type=Path, default=None, help="generate the cache here once and reuse it")
    parser.add_argument("--vacuum-into", action="store_true",
                        help="also measure a window with VACUUM INTO (the alternative to the backup API)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmsdata-bench-backup-") as scratch:
        source = args.cache or Path(scratch) / "lmsdata.db"
        dest = Path(scratch) / "backup.db"
        if not source.exists():
            start = time.perf_counter()
            generate(source, args.users, args.memberships, args.pushes)
            print(f"generated the cache in {time.perf_counter() - start:.1f} s "
                  f"({args.users:,} users, {args.memberships:,} memberships, {args.pushes:,} pushes)")
        size = source.stat().st_size
        print(f"cache {source}: {size / 1e6:.0f} MB")
        alone: dict[str, float] = {}
        for label, pace in (("paced", Pace()), ("unpaced", UNPACED)):
            quiet = time.perf_counter()
            steps = backup(source, dest, actor="bench", pace=pace).seconds
            took = alone[label] = time.perf_counter() - quiet
            dest.unlink()
            print(f"{label} backup with no writer: {took:.2f} s, {size / 1e6 / took:.0f} MB/s "
                  f"({', '.join(f'{step} {s:.2f} s' for step, s in steps.items())})")

        def run(pace: Pace) -> Callable[[], object]:
            return lambda: backup(source, dest, actor="bench", pace=pace)

        windows = [measure(source, "baseline (no backup)", alone["paced"], None)]
        windows.append(measure(source, "paced backup (Pace())", 0, run(Pace())))
        backup_size = dest.stat().st_size
        windows.append(measure(source, "unpaced backup (UNPACED)", 0, run(UNPACED)))
        if args.vacuum_into:
            windows.append(measure(source, "VACUUM INTO", 0, lambda: vacuum_into(source, Path(scratch) / "v.db")))
        windows.append(measure(source, "baseline again", alone["paced"], None))
        base = windows[0]
        wal = Path(f"{source}-wal")
        wal_mb = wal.stat().st_size / 1e6 if wal.exists() else 0.0
        print(f"backup file {backup_size / 1e6:.0f} MB; WAL now {wal_mb:.1f} MB")
        print(f"{'window':26} {'took':>7} {'commits':>7} {'longest':>9} {'p99':>8} {'x longest':>9} {'x p99':>6} "
              f"{'dirty':>8}  three longest (s into the backup, its step: ms)")
        for w in windows:
            print(f"{w.name:26} {w.took:6.1f}s {len(w.samples):7} {w.longest:7.1f}ms {w.p99:6.1f}ms "
                  f"{w.longest / base.longest:9.2f} {w.p99 / base.p99:6.2f} {w.dirty_mb:6.0f}MB  "
                  + ", ".join(f"{at:.1f} {w.step_at(at)}: {ms:.0f}" for at, ms in w.worst))
            if w.steps:
                print(f"{'':26} steps: {', '.join(f'{step} {s:.2f} s' for step, s in w.steps.items())}")
        paced = windows[1]
        print(f"goal: longest commit during the paced backup < {GOAL_MS:.0f} ms: "
              f"{'met' if paced.longest < GOAL_MS else 'NOT met'} ({paced.longest:.1f} ms; baselines "
              f"{base.longest:.1f} and {windows[-1].longest:.1f} ms)")


if __name__ == "__main__":
    main()
