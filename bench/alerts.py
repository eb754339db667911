"""Alert rule evaluation on a `large`-sized cache: the time of the rules' new inputs and of a whole pass.

Run: .venv/bin/python bench/alerts.py [--districts 520] [--days 30] [--pushes 200000] [--roster]

The cache is generated with SQL straight into the real schema (520 districts like the `large` sandbox,
a 15-minute sync history for `--days` days, a push log with 1 in 9 failed, a third of those in the last
hour with the same 503 so a cluster holds); `--roster` adds a roster the size of `large`'s for the term
rule (per district 2 terms, 77 sections, 1,900 students in 4 sections each: about 4 million memberships).
Timed, best of 3 after one warm-up: `status.district_rows` (what the Overview and `lmsdata status` read),
`with_history` (the baselines for matched_dropped / unmatched_growing), `with_terms` (term readiness),
the failure-cluster query plus `failure_clusters`, and `jobs.evaluate_rules` (every rule, reconciled into
`alerts`, no channels).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata import terms  # noqa: E402
from lmsdata.config import Settings  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.pushes.log import iso  # noqa: E402
from lmsdata.queries import FAILED_STATES  # noqa: E402
from lmsdata.status import district_rows  # noqa: E402
from lmsdata.worker.config import WorkerConfig  # noqa: E402
from lmsdata.worker.jobs import evaluate_rules, with_history, with_terms  # noqa: E402
from lmsdata.worker.rules import failure_clusters  # noqa: E402


def generate(path: Path, districts: int, days: int, pushes: int, now: datetime, roster: bool = False) -> None:
    pulls = days * 96
    with connect(path) as db:
        db.execute("PRAGMA synchronous = OFF")
        sql = db.conn.execute
        sql("""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
            INSERT INTO districts (id, name, lms_type, lms_state, last_lms_sync, matched_students, matched_teachers,
                                   matched_sections, students, teachers, sections, unmatched_students,
                                   unmatched_teachers, unsynced_sections, last_pulled_at)
            SELECT printf('d%05d', i), 'District ' || i, 'canvas', 'success', ?, 90 - (i % 7), 99, 97,
                   2000, 100, 80, 200 + (i % 13) * 3, 1, 2, ? FROM n""", [districts, iso(now), iso(now)])
        sql("""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
            INSERT INTO district_history (district_id, pulled_at, sync_run_id, lms_type, lms_state, last_lms_sync,
                                          matched_students, matched_teachers, matched_sections, unmatched_students,
                                          unmatched_teachers, unsynced_sections)
            SELECT printf('d%05d', i % ?), strftime('%Y-%m-%dT%H:%M:%fZ', ?, '-' || ((i / ?) * 900) || ' seconds'),
                   i / ?, 'canvas', 'success', ?, 90 - (i % 7) + (i / ? % 3), 99, 97, 200 + (i % 13) * 3 - (i / ? % 5),
                   1, 2 FROM n""",
            [districts * pulls, districts, iso(now), districts, districts, iso(now), districts, districts])
        hour_ago = iso(now - timedelta(minutes=30))
        sql("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO pushes (district_id, section_id, assignment_key, student_id, kind, payload, state, attempts,
                                source, created_at, updated_at, last_status, last_message)
            SELECT printf('d%05d', i % ?), printf('sec%021x', i / 30), 'a' || (i % 40), printf('%024x', i),
                   'submission_update', '{}', CASE WHEN i % 9 = 0 THEN 'failed' ELSE 'sent' END, 1, 'api',
                   '2026-11-01T00:00:00.000Z', CASE WHEN i % 27 = 0 THEN ? ELSE '2026-11-01T00:00:00.000Z' END,
                   CASE WHEN i % 9 = 0 THEN 503 END,
                   CASE WHEN i % 9 = 0 THEN 'Canvas answered 503 for section ' || (i / 30) END FROM n""",
            [pushes, districts, hour_ago])
        if roster:
            add_roster(db)
        db.conn.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def add_roster(db) -> None:  # type: ignore[no-untyped-def]
    """Terms, sections, students and memberships for every district (the term rule's inputs)."""
    sql = db.conn.execute
    sql("""INSERT INTO terms SELECT id || '-t' || k, id, 'Term ' || k,
           CASE k WHEN 1 THEN date('now', '-100 days') ELSE date('now', '+40 days') END,
           CASE k WHEN 1 THEN date('now', '+39 days') ELSE date('now', '+190 days') END
           FROM districts, (SELECT 1 AS k UNION ALL SELECT 2)""")
    sql("""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 76)
           INSERT INTO sections (id, district_id, term_id, name, synced_in_lms)
           SELECT d.id || '-s' || i, d.id, d.id || '-t' || (1 + i % 2), 'S' || i, (i % 17 != 0) FROM districts d, n""")
    sql("""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1899)
           INSERT INTO users (id, district_id, role, synced_in_lms)
           SELECT d.id || '-u' || i, d.id, 'student', (i % 23 != 0) FROM districts d, n""")
    sql("""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1899),
           k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 3)
           INSERT OR IGNORE INTO section_users (section_id, user_id, role, district_id)
           SELECT d.id || '-s' || ((i + j * 19) % 77), d.id || '-u' || i, 'student', d.id FROM districts d, n, k""")
    for (district_id,) in db.execute("SELECT id FROM districts").fetchall():
        terms.store_figures(db, district_id)  # as each district's sync stores them (not timed)


def best(fn, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=520)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--pushes", type=int, default=200_000)
    parser.add_argument("--roster", action="store_true", help="add terms, sections and ~4M memberships")
    args = parser.parse_args()
    now = datetime.now(UTC)
    config = WorkerConfig()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lmsdata.db"
        started = time.perf_counter()
        generate(path, args.districts, args.days, args.pushes, now, args.roster)
        with connect(path) as db:
            history = db.execute("SELECT COUNT(*) FROM district_history").fetchone()[0]
            rows = district_rows(db, now=now, thresholds=config.health)
            members = db.execute("SELECT COUNT(*) FROM section_users").fetchone()[0]
        print(f"generated in {time.perf_counter() - started:.1f} s: {args.districts} districts, "
              f"{history:,} history rows, {args.pushes:,} pushes, {members:,} section memberships")

        def status_rows() -> None:
            with connect(path) as db:
                district_rows(db, now=now, thresholds=config.health)

        def terms() -> None:
            with connect(path) as db:
                with_terms(db, rows, now)

        def baselines() -> None:
            with connect(path) as db:
                with_history(db, rows, config.alerts.history_window_hours)

        def clusters() -> None:
            with connect(path) as db:
                failures = db.query(
                    f"SELECT district_id, last_message, updated_at FROM pushes WHERE state IN "
                    f"({', '.join('?' for _ in FAILED_STATES)}) AND updated_at >= ?",
                    [*FAILED_STATES, iso(now - timedelta(minutes=60))])
                found = failure_clusters(failures, min_districts=3, window_minutes=60, now=now)
                assert found, "the generated 503s should form a cluster"

        settings = Settings(client_id="bench", client_secret="bench", db_path=path)
        print(f"district_rows (Overview, lmsdata status): {best(status_rows) * 1000:.0f} ms")
        print(f"with_history (drop and growth baselines): {best(baselines) * 1000:.0f} ms")
        print(f"with_terms (term readiness): {best(terms) * 1000:.0f} ms")
        print(f"failure clusters (query + grouping): {best(clusters) * 1000:.0f} ms")
        print(f"evaluate_rules (every rule, reconciled): {best(lambda: evaluate_rules(settings, config, now)):.2f} s")
        with connect(path) as db:
            print("open alerts by rule:", dict(db.execute(
                "SELECT rule, COUNT(*) FROM alerts WHERE state = 'open' GROUP BY rule").fetchall()))


if __name__ == "__main__":
    main()
