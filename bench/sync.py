"""Sync throughput on the `large` sandbox: full sync, a naive baseline, and an incremental sync.

Run: .venv/bin/python bench/sync.py [--scale large] [--concurrency 4] [--latency-ms 50]

Everything is measured in this one process; the sandbox runs in a child process (its CPU time is
reported separately) and generates every district once in a warm-up pass before timing starts.
  1. full sync of every district: wall time, records/s, requests issued against the minimum the
     data needs (token listing + per district: the district, the newest event id, and
     ceil(n / 10000) pages, at least one, of schools, terms, sections and users), peak RSS;
  2. the naive baseline (sequential districts, pages of 100, one INSERT statement per row, one
     transaction per district) beside the optimized sync on a subset (30 small districts and the
     smallest big one: the baseline over all of `large` would take many minutes), then again on
     20 small districts with a round-trip latency added to every request, as over a WAN to Clever;
  3. an incremental sync after 1 % of the users changed (matched flag flipped through the
     sandbox's control plane): its time and requests as a fraction of the full sync's.
Peak RSS is sampled every 20 ms during each phase (VmRSS of this process).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


_SERVE = """
import sys, threading
from lmsdata.sandbox import Sandbox, serve
server = serve(Sandbox(scale=sys.argv[1], cache_weight=int(sys.argv[2])))
print("base URL:", server.url, flush=True)
threading.Event().wait()
"""


@dataclass
class SandboxProcess:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox_process(scale: str) -> Iterator[SandboxProcess]:
    """The sandbox in its own process, with room to keep every generated district (so a warm-up
    pass can pay the sandbox's generation cost before anything is timed)."""
    process = subprocess.Popen([sys.executable, "-c", _SERVE, scale, "5000000"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        found = re.search(r"base URL:\s+(\S+)", process.stdout.readline())
        if not found:
            raise RuntimeError("the sandbox did not print its URL")
        yield SandboxProcess(found.group(1), process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


class DelayedTransport(httpx.BaseTransport):
    """Adds a fixed round-trip time to every request, as a WAN link to Clever would."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.latency_s)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def new_client(url: str, options: ClientOptions | None = None, latency_s: float = 0.0) -> CleverClient:
    transport = DelayedTransport(latency_s) if latency_s else None
    return CleverClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=url, oauth_url=url, options=options,
                        transport=transport)


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


def optimized_sync(url: str, db_path: Path, latency_s: float = 0.0, **options: Any) -> Any:
    with new_client(url, latency_s=latency_s) as client:
        return sync(client, db_path, full=options.pop("full", True), **options)


def naive_sync(url: str, db_path: Path, district_ids: list[str], latency_s: float = 0.0) -> tuple[int, int]:
    """Sequential, pages of 100, one INSERT per row: what a first version typically does."""
    records = 0
    columns = {
        "schools": models.SCHOOL_COLUMNS, "terms": models.TERM_COLUMNS, "sections": models.SECTION_COLUMNS,
        "section_users": models.SECTION_USER_COLUMNS, "users": models.USER_COLUMNS,
    }  # fmt: skip
    sql = {t: f"INSERT OR REPLACE INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' for _ in c)})"
           for t, c in columns.items()}
    with new_client(url, ClientOptions(data_page_limit=100), latency_s) as client, connect(db_path) as db:
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
    chosen = sorted(random.Random(seed).sample(users, max(1, total // 100)))  # grouped by district
    with httpx.Client(base_url=url, timeout=60) as control:
        for user_id, synced in chosen:
            control.post(f"/__sandbox/users/{user_id}/matched", json={"matched": not synced}).raise_for_status()
    return len(chosen)


def rate_limited(url: str) -> int:
    return int(httpx.get(f"{url}/__sandbox/stats", timeout=60).json()["result"]["rate_limited"])


@dataclass
class Phase:
    value: Any
    seconds: float
    peak_mb: float
    client_cpu: float
    sandbox_cpu: float

    def cpu(self) -> str:
        return f"CPU: client {self.client_cpu:.1f} s, sandbox {self.sandbox_cpu:.1f} s"


def timed(sandbox: SandboxProcess, run: Callable[[], Any]) -> Phase:
    with peak_rss() as peak:
        sandbox_cpu, client_cpu = sandbox.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        value = run()
        seconds = time.perf_counter() - started
        return Phase(value, seconds, peak(), time.process_time() - client_cpu, sandbox.cpu_seconds() - sandbox_cpu)


def warm_up(url: str) -> list[str]:
    """Make the sandbox generate every district once (its cost is not the client's)."""
    with new_client(url) as client:
        ids = sorted(t.district_id for t in client.district_tokens())
        for did in ids:
            next(client.district(did).pages("/v3.1/users", {"limit": 1}), None)
    return ids


def compare(sandbox: SandboxProcess, work: Path, subset: list[str], concurrency: int, latency_s: float,
            label: str) -> None:
    tag = f"{label}-{int(latency_s * 1000)}ms"
    fast = timed(sandbox, lambda: optimized_sync(sandbox.url, work / f"fast-{tag}.db", latency_s,
                                                 district_ids=subset, concurrency=concurrency))
    naive = timed(sandbox, lambda: naive_sync(sandbox.url, work / f"naive-{tag}.db", subset, latency_s))
    naive_records, naive_requests = naive.value
    with connect(work / f"fast-{tag}.db") as db:
        users = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    print(f"\nbaseline comparison: {label}, {len(subset)} districts ({users:,} users), "
          f"added round-trip latency {latency_s * 1000:.0f} ms")
    print(f"  optimized: {fast.seconds:.1f} s, {fast.value.records / fast.seconds:,.0f} records/s, "
          f"{fast.value.requests:,} requests, peak RSS {fast.peak_mb:.0f} MB, {fast.cpu()}")
    print(f"  naive:     {naive.seconds:.1f} s, {naive_records / naive.seconds:,.0f} records/s, "
          f"{naive_requests:,} requests, peak RSS {naive.peak_mb:.0f} MB, {naive.cpu()}")
    print(f"  optimized is {naive.seconds / fast.seconds:.1f}x faster with {naive_requests / fast.value.requests:.1f}x "
          "fewer requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="large", choices=["tiny", "demo", "large"])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="round-trip time added in the second baseline comparison")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lmsdata-bench-sync-"))
    full_db = work / "full.db"

    with sandbox_process(args.scale) as sandbox:
        url = sandbox.url
        warm = timed(sandbox, lambda: warm_up(url))
        print(f"sandbox: {args.scale} at {url}; caches in {work}")
        print(f"warm-up (the sandbox generates every district once): {warm.seconds:.0f} s, {warm.cpu()}")

        full = timed(sandbox, lambda: optimized_sync(url, full_db, concurrency=args.concurrency))
        result = full.value
        assert not result.failed, result.failed
        with connect(full_db) as db:
            users = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            memberships = db.execute("SELECT COUNT(*) FROM section_users").fetchone()[0]
            sizes = dict(db.execute("SELECT id, students + teachers FROM districts").fetchall())
        minimum = minimum_requests(full_db)
        print(f"\nfull sync: {len(result.districts)} districts, {users:,} users, {memberships:,} section "
              f"memberships, concurrency {args.concurrency}")
        print(f"  {full.seconds:.1f} s, {result.records:,} records, {result.records / full.seconds:,.0f} records/s "
              f"({users / full.seconds:,.0f} users/s); {full.cpu()}")
        print(f"  requests {result.requests:,} (minimum {minimum:,}, ratio {result.requests / minimum:.3f}), "
              f"429s received {rate_limited(url)}")
        print(f"  peak RSS {full.peak_mb:.0f} MB (client process)")

        ordered = sorted(result.districts)
        big = min((d for d in ordered if sizes[d] > 50_000), key=lambda d: sizes[d], default=max(sizes, key=sizes.get))
        compare(sandbox, work, list(dict.fromkeys([*ordered[:30], big])), args.concurrency, 0.0,
                "30 small + 1 big district")
        compare(sandbox, work, ordered[:20], args.concurrency, args.latency_ms / 1000, "20 small districts")

        change = timed(sandbox, lambda: change_one_percent(url, full_db))
        incremental = timed(sandbox, lambda: optimized_sync(url, full_db, full=False, concurrency=args.concurrency))
        assert not incremental.value.failed, incremental.value.failed
        with connect(full_db) as db:
            events = db.execute("SELECT COUNT(*) FROM events WHERE sync_run_id = ?",
                                [incremental.value.run_id]).fetchone()[0]
        print(f"\nincremental sync after {change.value:,} users changed ({change.value / users:.1%}; "
              f"changed through the control plane in {change.seconds:.0f} s)")
        print(f"  {incremental.seconds:.1f} s = {incremental.seconds / full.seconds:.1%} of the full sync's time; "
              f"{incremental.value.requests:,} requests = {incremental.value.requests / result.requests:.1%} "
              f"of its requests; {events:,} events applied; peak RSS {incremental.peak_mb:.0f} MB; {incremental.cpu()}")


if __name__ == "__main__":
    main()
