"""How fast each dashboard page renders on the `large` cache, cold and warm, and the server's memory.

    .venv/bin/python bench/ui.py [--rebuild] [--screenshots docs/img]

The `large` cache (520 districts, 1,000,000 users, 100,000 pushes, a reconcile's 75,000 gradebook rows, 400
look-alike pairs stored as suspected duplicates by the same function a sync uses) is written straight into SQLite
by a fast generator below: a full sync of the large sandbox takes minutes (bench/sync.py measures
that) and is not what this benchmark is about. The same pages on the embedded demo cache (built
through the real sandbox, sync and traffic) are the baseline, measured in the same run; the ratio
large/demo says how the pages scale. A second table compares the heaviest page queries with the
naive way (load the whole table into pandas, then filter), also on the large cache.

Times are what a person waits for in Chromium: from navigation until Streamlit reports the script
finished and nothing is still loading. "cold" is the first visit after the server started (empty
st.cache_data), "warm" the next visit to the same page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata import demo, queries  # noqa: E402
from lmsdata.db import bump_data_version, connect  # noqa: E402
from lmsdata.gradebook.identity import refresh_suspects  # noqa: E402
from lmsdata.ui.frame import PAGES  # noqa: E402

OUT = ROOT / "bench" / "out"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CATEGORIES = {
    "transient": (503, "Service Unavailable"),
    "student_not_matched": (404, "User not found"),
    "section_not_synced": (404, "Section not found"),
    "assignment_deleted": (404, "Assignment does not exist"),
    "district_not_ready": (400, "LMS Connect is not enabled for this district"),
    "schoology_not_launched": (500, "Error updating submission"),
    "payload_invalid": (400, "due_date must be in the future"),
}
LMS = ("canvas", "schoology", "google_classroom")
STATES = ("success",) * 8 + ("matching_in_progress", "initial_sync_processing", "pending_authorization", "error",
                             "disconnected", "", None)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def build_large(path: Path, *, districts: int = 520, users: int = 1_000_000, pushes: int = 100_000) -> float:
    """Write a large cache directly (seeded, about a minute); returns the seconds it took."""
    started = time.perf_counter()
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    rng = random.Random(42)
    now = datetime.now(UTC)
    big = [60_000, 55_000, 52_000]  # some districts over 50,000 users, as real partners have
    rest = (users - sum(big)) // (districts - len(big))
    sizes = big + [rest] * (districts - len(big) - 1)
    sizes.append(users - sum(sizes))
    with connect(path) as db:
        db.conn.execute("PRAGMA synchronous = OFF")
        conn = db.conn
        user_rows, section_rows, district_rows, history_rows, school_rows = [], [], [], [], []
        user_no = 0
        for d, size in enumerate(sizes):
            did = f"{d:024x}"
            state = rng.choice(STATES)
            lms_type = rng.choice(LMS) if state is not None else None
            unmatched_rate = rng.choice((0.0, 0.01, 0.03, 0.08, 0.2))
            teachers = max(size // 20, 1)
            n_sections = max(size // 25, 1)
            schools = [f"{did}-s{n}" for n in range(max(size // 400, 1))]
            school_rows += [(s, did, f"School {n} of district {d}") for n, s in enumerate(schools)]
            unmatched = {"student": 0, "teacher": 0}
            for n in range(size):
                role = "teacher" if n < teachers else "student"
                synced = 0 if rng.random() < unmatched_rate else 1
                unmatched[role] += 1 - synced
                user_rows.append((f"u{user_no:010d}", did, role, f"First{user_no % 997}", f"Last{user_no % 1009}",
                                  f"user{user_no}@d{d}.example.org", f"SIS{user_no}", schools[n % len(schools)],
                                  synced))
                user_no += 1
            unsynced = 0
            for n in range(n_sections):
                synced = 0 if rng.random() < unmatched_rate else 1
                unsynced += 1 - synced
                section_rows.append((f"{did}-sec{n}", did, schools[n % len(schools)], f"Section {n}", 25, synced))
            matched = [None if state is None else round(100 * (1 - unmatched_rate), 1)] * 3
            last_sync = iso(now - timedelta(hours=rng.choice((1, 5, 30, 80, 300))))
            district_rows.append((did, f"District {d:03d}", lms_type, state, last_sync, *matched, size - teachers,
                                  teachers, n_sections, unmatched["student"], unmatched["teacher"], unsynced,
                                  iso(now - timedelta(minutes=10)), f"it@d{d}.example.org"))
            for back in (3, 2, 1):
                history_rows.append((did, iso(now - timedelta(days=back)), rng.choice(STATES[:10]), lms_type,
                                     *matched))
            if len(user_rows) > 200_000:
                _users(conn, user_rows)
                user_rows = []
        _users(conn, user_rows)
        conn.executemany("INSERT INTO schools (id, district_id, name) VALUES (?, ?, ?)", school_rows)
        conn.executemany(
            "INSERT INTO sections (id, district_id, school_id, name, student_count, synced_in_lms) "
            "VALUES (?, ?, ?, ?, ?, ?)", section_rows)
        conn.executemany(
            "INSERT INTO districts (id, name, lms_type, lms_state, last_lms_sync, matched_students, matched_teachers, "
            "matched_sections, students, teachers, sections, unmatched_students, unmatched_teachers, "
            "unsynced_sections, last_pulled_at, contact_email) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            district_rows)
        conn.executemany(
            "INSERT INTO district_history (district_id, pulled_at, lms_state, lms_type, matched_students, "
            "matched_teachers, matched_sections) VALUES (?, ?, ?, ?, ?, ?, ?)", history_rows)
        _pushes(conn, rng, now, pushes, section_rows)
        _runs(conn, now, [r[0] for r in district_rows])
        _gradebook(conn, rng, now)
        _look_alikes(conn, rng, users)
        refresh_suspects(db)  # what a sync stores with each district (lmsdata.sync)
        bump_data_version(db)
        conn.commit()
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def _users(conn, rows) -> None:  # type: ignore[no-untyped-def]
    conn.executemany(
        "INSERT INTO users (id, district_id, role, first_name, last_name, email, sis_id, school_id, synced_in_lms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _pushes(conn, rng, now, count, sections) -> None:  # type: ignore[no-untyped-def]
    rows, attempts = [], []
    for n in range(1, count + 1):
        section = sections[rng.randrange(len(sections))]
        roll = rng.random()
        state = "sent" if roll < 0.75 else "failed" if roll < 0.93 else "superseded" if roll < 0.98 else "unknown"
        category = rng.choice(list(CATEGORIES)) if state in ("failed", "unknown") else None
        status, message = CATEGORIES[category] if category else (200, None)
        at = iso(now - timedelta(minutes=rng.randrange(60 * 24 * 14)))
        rows.append((n, section[1], section[0], "quiz-1", f"u{rng.randrange(1_000_000):010d}", "submission_update",
                     json.dumps({"grade": rng.randrange(20)}), state, category, status, message, 1, "bench", at, at))
        attempts.append((n, at, 150.0, status, message, "sent" if state == "sent" else "failed", "first"))
    conn.executemany(
        "INSERT INTO pushes (id, district_id, section_id, assignment_key, student_id, kind, payload, state, category, "
        "last_status, last_message, attempts, source, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO push_attempts (push_id, started_at, duration_ms, http_status, message, outcome, trigger) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", attempts)


GRADEBOOK_STATES = ("landed",) * 85 + ("missing",) * 5 + ("different",) * 4 + ("override",) * 4 + \
    ("assignment_gone",) * 2


def _gradebook(conn, rng, now) -> None:  # type: ignore[no-untyped-def]
    """A reconcile's read-back of every sent grade (lmsdata.gradebook.reconcile writes the same rows)."""
    checked = iso(now - timedelta(minutes=30))
    rows, sections = [], set()
    for pid, did, sid, key, student, payload in conn.execute(
            "SELECT id, district_id, section_id, assignment_key, student_id, payload FROM pushes "
            "WHERE state = 'sent' AND kind = 'submission_update'"):
        state = rng.choice(GRADEBOOK_STATES)
        edited = state in ("override", "different")
        rows.append((did, sid, key, student, f"a-{sid}", pid, state, payload,
                     None, rng.randrange(20) if edited else None, f"u{rng.randrange(1_000_000):010d}" if edited
                     else None, iso(now - timedelta(hours=rng.randrange(48))) if edited else None, checked))
        sections.add((did, sid))
    conn.executemany(
        "INSERT OR REPLACE INTO gradebook_rows (district_id, section_id, assignment_key, student_id, assignment_id, "
        "push_id, state, our_grade, lms_grade, lms_grade_points, lms_grader_id, lms_last_modified, checked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO gradebook_sections (district_id, section_id, reconciled_at, requests) "
                     "VALUES (?, ?, ?, 2)", [(did, sid, checked) for did, sid in sections])


def _look_alikes(conn, rng, users: int) -> None:  # type: ignore[no-untyped-def]
    """Some pairs of students sharing an e-mail or a SIS id, as split identities do (docs/gradebook.md)."""
    for n in range(400):
        first = f"u{rng.randrange(100_000, users):010d}"
        district = conn.execute("SELECT district_id FROM users WHERE id = ?", [first]).fetchone()[0]
        second = conn.execute("SELECT id FROM users WHERE district_id = ? AND id != ? AND role = 'student' "
                              "LIMIT 1 OFFSET ?", [district, first, rng.randrange(50)]).fetchone()[0]
        column = "email" if n % 2 else "sis_id"
        conn.execute(f"UPDATE users SET {column} = (SELECT {column} FROM users WHERE id = ?) WHERE id = ?",
                     [first, second])


def _runs(conn, now, district_ids) -> None:  # type: ignore[no-untyped-def]
    for run in range(1, 21):
        at = iso(now - timedelta(hours=(21 - run) * 6))
        conn.execute(
            "INSERT INTO sync_runs (id, started_at, finished_at, mode, outcome, actor, districts_total, requests, "
            "records) VALUES (?, ?, ?, 'incremental', 'success', 'bench', ?, ?, ?)",
            [run, at, at, len(district_ids), len(district_ids) * 3, len(district_ids) * 10])
        conn.executemany(
            "INSERT INTO sync_run_districts (run_id, district_id, mode, started_at, finished_at, outcome, requests, "
            "records) VALUES (?, ?, 'incremental', ?, ?, 'success', 3, 10)",
            [(run, did, at, at) for did in district_ids])
    conn.executemany(
        "INSERT INTO events (id, district_id, type, created, object_id, received_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(f"ev{n:08d}", district_ids[n % len(district_ids)], "users.updated", iso(now - timedelta(minutes=n)),
          f"u{n:010d}", iso(now)) for n in range(20_000)])


def build_demo(path: Path) -> float:
    started = time.perf_counter()
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    env = demo.start(path)
    try:
        demo.build(env)
    finally:
        env.close()
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------ browser timing


@contextmanager
def streamlit_server(db_path: Path, *, demo_mode: bool) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEVER_", "SMTP_", "LMSDATA_"))}
    env["LMSDATA_DB"] = str(db_path)
    if not demo_mode:  # read the cache as a real partner's; never contacted; no sign-in (local use, docs/access.md)
        env.update(CLEVER_CLIENT_ID="bench", CLEVER_CLIENT_SECRET="bench-secret",
                   CLEVER_API_URL="http://127.0.0.1:9", CLEVER_OAUTH_URL="http://127.0.0.1:9",
                   LMSDATA_ALLOW_UNAUTHENTICATED="1")
    log = (OUT / f"streamlit-{db_path.stem}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_until_drawn(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=300_000)
    page.wait_for_function(
        "() => document.querySelector(\"[data-testid='stApp']\")?.dataset.testScriptState === 'notRunning' "
        "&& document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0 "
        "&& document.querySelector(\"h1\") !== null", timeout=300_000)


def page_urls(db_path: Path) -> list[tuple[str, str]]:
    """(title, path) per page; the Overview is the default page, served at "/"."""
    with connect(db_path) as db:
        district_id = largest_district(db)
    paths = {"overview": "", "district": f"district?district={district_id}"}
    return [(title, paths.get(url, url)) for _, title, url, _ in PAGES]


def largest_district(db) -> str:  # type: ignore[no-untyped-def]
    return str(db.execute("SELECT id FROM districts ORDER BY students DESC, id LIMIT 1").fetchone()[0])


def time_pages(db_path: Path, *, demo_mode: bool, screenshots: Path | None = None) -> tuple[dict[str, dict], float]:
    """Per page: `cold` and `warm` full loads (a new browser session, as a bookmark opens it) and `click`,
    the same page reached from the sidebar in an open session (what moving around the dashboard costs)."""
    from playwright.sync_api import sync_playwright

    timings: dict[str, dict] = {}
    with streamlit_server(db_path, demo_mode=demo_mode) as (url, process), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.goto(f"{url}/audit")  # the first run of a fresh server (and the demo start) is nobody's page cost
        wait_until_drawn(page)
        for title, path in page_urls(db_path):
            timings[title] = {}
            for visit in ("cold", "warm"):
                started = time.perf_counter()
                page.goto(f"{url}/{path}")
                wait_until_drawn(page)
                timings[title][visit] = time.perf_counter() - started
            if screenshots is not None and title != "Audit log":
                page.wait_for_timeout(800)  # let plotly finish its transition
                page.screenshot(path=str(screenshots / f"{path.split('?')[0] or 'overview'}.png"))
        for title, path in page_urls(db_path):
            if "?" in path:  # a district is chosen by its link, not from the sidebar
                continue
            page.get_by_test_id("stSidebarNav").get_by_text("Audit log", exact=True).click()
            wait_until_drawn(page)
            started = time.perf_counter()
            page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
            page.wait_for_function(f"() => document.querySelector('h1')?.innerText.trim().startsWith({title!r})",
                                   timeout=300_000)
            wait_until_drawn(page)
            timings[title]["click"] = time.perf_counter() - started
        browser.close()
        memory = peak_rss_mb(process.pid)
    return timings, memory


def script_times(db_path: Path) -> dict[str, dict[str, float]]:
    """Server-side cost alone: each page's script run in-process (AppTest); cold = first run after the
    cache was cleared, warm = median of the next 3 runs."""
    import logging
    import statistics

    import streamlit as st
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    os.environ.update(LMSDATA_DB=str(db_path), CLEVER_CLIENT_ID="bench", CLEVER_CLIENT_SECRET="bench-secret",
                      CLEVER_API_URL="http://127.0.0.1:9", CLEVER_OAUTH_URL="http://127.0.0.1:9",
                      LMSDATA_ALLOW_UNAUTHENTICATED="1")  # local use without sign-in (docs/access.md)
    config.set_option("server.address", "127.0.0.1")  # what that needs; AppTest starts no server
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's "bare mode" warnings
    times: dict[str, dict[str, float]] = {}
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.run()  # imports (plotly, pandas' Arrow) are the process's cost, not a page's
    st.cache_data.clear()
    for (file, title, _, _), (_, path) in zip(PAGES, page_urls(db_path), strict=True):
        at.switch_page(file)
        if "?" in path:
            at.query_params["district"] = path.split("=", 1)[1]
        started = time.perf_counter()
        at.run()
        cold = time.perf_counter() - started
        warm = []
        for _ in range(3):
            started = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - started)
        assert not at.exception, (title, at.exception)
        times[title] = {"cold": cold, "warm": statistics.median(warm)}
    return times


# ------------------------------------------------------------------------------------------ query baseline


def query_baseline(db_path: Path) -> list[tuple[str, float, float]]:
    """The heaviest page queries, indexed SQL with a limit vs. a naive full load into pandas."""
    results = []
    with connect(db_path) as db:
        big = db.execute("SELECT id FROM districts ORDER BY unmatched_students DESC LIMIT 1").fetchone()[0]

        def naive_unmatched() -> pd.DataFrame:
            users = pd.read_sql("SELECT * FROM users", db.conn)
            return users[(users["synced_in_lms"] == 0) & (users["district_id"] == big)].head(2001)

        def naive_failed() -> pd.DataFrame:
            pushes = pd.read_sql("SELECT * FROM pushes", db.conn)
            return pushes[pushes["state"].isin(["failed", "unknown"])].groupby("category").size().reset_index()

        for name, fast, slow in (
            ("unmatched users, district with the most",
             lambda: queries.unmatched_users(db, district_ids=(big,), limit=2001), naive_unmatched),
            ("failed pushes by category", lambda: queries.failed_by_category(db), naive_failed),
        ):
            results.append((name, _best(fast), _best(slow)))
    return results


def _best(func, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def search_times(db_path: Path) -> list[tuple[str, int, float, float]]:
    """Pushes search (issue 12) on the large cache, as the Failed pushes page runs it (matching, names,
    readiness, attempts): (what, results, first run, best of 3) in seconds, per kind of lookup."""
    from lmsdata.pushes.search import Query, search

    with connect(db_path) as db:
        student, section, created = db.execute(
            "SELECT student_id, section_id, created_at FROM pushes ORDER BY id LIMIT 1 OFFSET 5000").fetchone()
        first, last, email, sis_id = db.execute(
            "SELECT first_name, last_name, email, sis_id FROM users WHERE id = ?", [student]).fetchone()
    day = datetime.fromisoformat(created.replace("Z", "+00:00")).date()
    queries_ = [
        ("student by full name", Query(f"{first} {last}", "student")),
        ("student by last name (~990 users)", Query(last, "student")),
        ("student by e-mail", Query(email, "student")),
        ("student by SIS id", Query(sis_id, "student")),
        ("student by Clever id", Query(student, "student")),
        ("section by id", Query(section, "section")),
        ("anything: a full name", Query(f"{first} {last}")),
        ("one day, every district", Query(since=day, until=day)),
        ("assignment key on all 100,000 pushes", Query("quiz-1", "assignment")),
    ]
    rows = []
    for what, query in queries_:
        with connect(db_path) as db:
            started = time.perf_counter()
            found = search(db, query)
            first_run = time.perf_counter() - started

            def again(db=db, query=query) -> None:  # type: ignore[no-untyped-def]
                search(db, query)

            rows.append((what, len(found), first_run, _best(again)))
    return rows


def print_search_times(db_path: Path) -> None:
    print("\nlarge cache, pushes search (goal < 0.3 s), seconds; results capped at 200, newest first")
    for what, count, first_run, best in search_times(db_path):
        print(f"{what:<40} {count:>5} results   first {first_run:.3f}   best of 3 {best:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="regenerate the large cache even if it exists")
    parser.add_argument("--screenshots", type=Path, help="save a PNG of each page (demo cache) in this folder")
    parser.add_argument("--search", action="store_true", help="only the pushes search timings on the large cache")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    large, demo_cache = OUT / "large.db", OUT / "demo.db"
    if args.rebuild or not large.exists():
        print(f"building the large cache directly in SQLite: {build_large(large):.1f} s")
    with connect(large) as db:
        sizes = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("districts", "users", "pushes")}
    print(f"large cache: {sizes}, {large.stat().st_size / 1e6:.0f} MB")
    if args.search:
        print_search_times(large)
        return
    print(f"building the demo cache through the sandbox (baseline): {build_demo(demo_cache):.1f} s")
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    base, base_memory = time_pages(demo_cache, demo_mode=True, screenshots=args.screenshots)
    big, big_memory = time_pages(large, demo_mode=False)

    print("\npage render time in Chromium, seconds: cold/warm = open the page's URL (first visit after the server")
    print("started / next visit), click = reach it from the sidebar in an open session; ratio = large / demo")
    print(f"{'page':<14} {'demo cold':>9} {'warm':>6} {'click':>6} {'large cold':>10} {'warm':>6} {'click':>6} "
          f"{'ratio cold':>10} {'warm':>6} {'click':>6}")
    for title in base:
        b, g = base[title], big[title]
        click = (f"{b['click']:>6.2f}", f"{g['click']:>6.2f}", f"{g['click'] / b['click']:>6.2f}") \
            if "click" in b else ("   n/a",) * 3
        print(f"{title:<14} {b['cold']:>9.2f} {b['warm']:>6.2f} {click[0]} {g['cold']:>10.2f} {g['warm']:>6.2f} "
              f"{click[1]} {g['cold'] / b['cold']:>10.2f} {g['warm'] / b['warm']:>6.2f} {click[2]}")
    print(f"\nserver peak memory (VmHWM): demo {base_memory:.0f} MB, large {big_memory:.0f} MB, "
          f"ratio {big_memory / base_memory:.2f}")
    print("\npage script time on the server alone (in-process AppTest, no browser), seconds; ratio = large / demo")
    base_script, big_script = script_times(demo_cache), script_times(large)
    print(f"{'page':<14} {'demo cold':>9} {'warm':>6} {'large cold':>10} {'warm':>6} {'ratio cold':>10} {'warm':>6}")
    for title, b in base_script.items():
        g = big_script[title]
        print(f"{title:<14} {b['cold']:>9.3f} {b['warm']:>6.3f} {g['cold']:>10.3f} {g['warm']:>6.3f} "
              f"{g['cold'] / b['cold']:>10.2f} {g['warm'] / b['warm']:>6.2f}")
    print("\nlarge cache, page query vs naive full-table pandas load (best of 3), seconds")
    for name, fast, slow in query_baseline(large):
        print(f"{name:<42} indexed {fast:.3f}   naive {slow:.3f}   speed-up {slow / fast:.0f}x")
    print_search_times(large)
    if args.screenshots:
        print(f"\nscreenshots in {args.screenshots}")


if __name__ == "__main__":
    main()
