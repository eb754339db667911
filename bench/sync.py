"""Sync throughput on the `large` sandbox: full sync, a naive baseline, and an incremental sync.

Run: .venv/bin/python bench/sync.py [--scale large] [--baseline-districts 40] [--concurrency 4]

What it measures, all in this one process (the sandbox runs in a child process, so its CPU and
memory are not counted against the client):
  1. full sync of every district: wall time, records/s, requests issued against the minimum the
     data needs (token listing + per district: the district, the newest event id, and
     ceil(n / 10000) pages, at least one, of schools, terms, sections and users), peak RSS;
  2. the naive baseline (sequential districts, pages of 100, one INSERT statement per row, one
     transaction per district) beside the same optimized sync, on the first N districts only
     (the baseline over all of `large` would take many minutes);
  3. an incremental sync after about 1 % of the users changed (matched flag flipped through the
     sandbox's control plane): its time and requests as a fraction of the full sync's.
Peak RSS is sampled every 20 ms during each phase (VmRSS of this process).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata import models  # noqa: E402
from lmsdata.client import CleverClient, ClientOptions  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.sandbox.core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET  # noqa: E402
from lmsdata.sync import sync  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def peak_rss() -> Iterator[Callable[[], float]]:
    """Yields a function returning the peak RSS (MB) seen since the block started."""
    peak = [rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mb())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0]
    finally:
        done.set()
        thread.join()


@contextmanager
def sandbox_process(scale: str) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "lmsdata", "sandbox", "--scale", scale, "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"base URL:\s+(\S+)", line)
            if found:
                yield found.group(1)
                return
        raise RuntimeError("the sandbox did not print its URL")
    finally:
        process.terminate()
        process.wait(timeout=30)


def new_client(url: str, options: ClientOptions | None = None) -> CleverClient:
    return CleverClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=url, oauth_url=url, options=options)


def minimum_requests(db_path: Path, district_ids: list[str] | None = None) -> int:
    """What the data needs at 10000 items a page (nothing fetched twice)."""
    pages = 1  # the token listing
    with connect(db_path) as db:
        for did, *counts in db.execute(
            "SELECT d.id, (SELECT COUNT(*) FROM schools WHERE district_id = d.id), "
            "(SELECT COUNT(*) FROM terms WHERE district_id = d.id), d.sections, "
            "(SELECT COUNT(*) FROM users WHERE district_id = d.id) FROM districts d"
        ).fetchall():
            if district_ids is None or did in district_ids:
                pages += 2 + sum(max(1, math.ceil(n / 10_000)) for n in counts)
    return pages


def naive_sync(url: str, db_path: Path, district_ids: list[str]) -> tuple[int, int]:
    """Sequential, pages of 100, one INSERT per row: what a first version typically does."""
    records = 0
    columns = {
        "schools": models.SCHOOL_COLUMNS, "terms": models.TERM_COLUMNS, "sections": models.SECTION_COLUMNS,
        "section_users": models.SECTION_USER_COLUMNS, "users": models.USER_COLUMNS,
    }  # fmt: skip
    sql = {t: f"INSERT OR REPLACE INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' for _ in c)})"
           for t, c in columns.items()}
    with new_client(url, ClientOptions(data_page_limit=100)) as client, connect(db_path) as db:
        for did in district_ids:
            dc = client.district(did)
            district = models.district_row(dc.get_district())
            with db.atomic():
                db.execute(f"INSERT OR REPLACE INTO districts ({', '.join(models.DISTRICT_COLUMNS)}) VALUES "
                           f"({', '.join('?' for _ in models.DISTRICT_COLUMNS)})", district)
                for obj in dc.iter_schools():
                    db.execute(sql["schools"], models.school_row(obj, did))
                    records += 1
                for obj in dc.iter_terms():
                    db.execute(sql["terms"], models.term_row(obj, did))
                    records += 1
                for obj in dc.iter_sections():
                    section, members = models.section_rows(obj, did)
                    db.execute(sql["sections"], section)
                    for member in members:
                        db.execute(sql["section_users"], member)
                    records += 1
                for obj in dc.iter_users():
                    db.execute(sql["users"], models.user_row(obj, did))
                    records += 1
            records += 1
        return records, client.requests_made


def change_one_percent(url: str, db_path: Path, seed: int = 1) -> int:
    """Flip the matched flag of ~1 % of the users through the sandbox's control plane."""
    with connect(db_path) as db:
        users = db.execute("SELECT id, synced_in_lms FROM users WHERE synced_in_lms IS NOT NULL "
                           "AND role IN ('student', 'teacher') ORDER BY id").fetchall()
        total = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    chosen = random.Random(seed).sample(users, max(1, total // 100))
    with httpx.Client(base_url=url, timeout=60) as control:
        for user_id, synced in chosen:
            control.post(f"/__sandbox/users/{user_id}/matched", json={"matched": not synced}).raise_for_status()
    return len(chosen)


def rate_limited(url: str) -> int:
    return int(httpx.get(f"{url}/__sandbox/stats", timeout=60).json()["result"]["rate_limited"])


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    with peak_rss() as peak:
        started = time.perf_counter()
        value = run()
        return value, time.perf_counter() - started, peak()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="large", choices=["tiny", "demo", "large"])
    parser.add_argument("--baseline-districts", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lmsdata-bench-sync-"))
    full_db, subset_db, naive_db = work / "full.db", work / "subset.db", work / "naive.db"

    with sandbox_process(args.scale) as url:
        print(f"sandbox: {args.scale} at {url}; caches in {work}")
        with new_client(url) as client:
            result, seconds, peak = timed(lambda: sync(client, full_db, full=True, concurrency=args.concurrency))
        assert not result.failed, result.failed
        with connect(full_db) as db:
            users = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            memberships = db.execute("SELECT COUNT(*) FROM section_users").fetchone()[0]
        minimum = minimum_requests(full_db)
        print(f"\nfull sync, {len(result.districts)} districts, {users:,} users, {memberships:,} section memberships,"
              f" concurrency {args.concurrency}")
        print(f"  time {seconds:.1f} s, {result.records:,} records, {result.records / seconds:,.0f} records/s")
        print(f"  requests {result.requests:,} (minimum {minimum:,}, ratio {result.requests / minimum:.3f}), "
              f"429s received {rate_limited(url)}")
        print(f"  peak RSS {peak:.0f} MB")
        full_seconds, full_requests = seconds, result.requests

        subset = sorted(result.districts)[: args.baseline_districts]
        with new_client(url) as client:
            fast, fast_s, fast_peak = timed(lambda: sync(client, subset_db, full=True, district_ids=subset,
                                                         concurrency=args.concurrency))
        (naive_records, naive_requests), naive_s, naive_peak = timed(lambda: naive_sync(url, naive_db, subset))
        with connect(subset_db) as db:
            subset_users = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        print(f"\nbaseline comparison on {len(subset)} districts ({subset_users:,} users)")
        print(f"  optimized: {fast_s:.1f} s, {fast.records / fast_s:,.0f} records/s, {fast.requests:,} requests, "
              f"peak RSS {fast_peak:.0f} MB")
        print(f"  naive:     {naive_s:.1f} s, {naive_records / naive_s:,.0f} records/s, {naive_requests:,} requests, "
              f"peak RSS {naive_peak:.0f} MB")
        print(f"  speed-up {naive_s / fast_s:.1f}x, requests {naive_requests / fast.requests:.1f}x fewer")

        changed, change_s, _ = timed(lambda: change_one_percent(url, full_db))
        with new_client(url) as client:
            incremental, inc_s, inc_peak = timed(lambda: sync(client, full_db, concurrency=args.concurrency))
        assert not incremental.failed, incremental.failed
        with connect(full_db) as db:
            events = db.execute("SELECT COUNT(*) FROM events WHERE sync_run_id = ?",
                                [incremental.run_id]).fetchone()[0]
        print(f"\nincremental sync after {changed:,} users changed ({changed / users:.1%}; "
              f"changed in the sandbox in {change_s:.0f} s)")
        print(f"  time {inc_s:.1f} s ({inc_s / full_seconds:.1%} of the full sync), {incremental.requests:,} requests "
              f"({incremental.requests / full_requests:.1%} of the full sync's), {events:,} events, "
              f"peak RSS {inc_peak:.0f} MB")


if __name__ == "__main__":
    main()
