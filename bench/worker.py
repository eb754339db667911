"""One worker cycle on the `large` sandbox: an incremental sync, the pushes it released, then every alert rule.

Run: .venv/bin/python bench/worker.py [--scale large] [--concurrency 4]

Setup (not timed): the sandbox in its own process (bench/sync.py's), a warm-up pass so it has generated
every district, a full sync into a fresh cache, then 1 % of the users changed through the control plane.
Then one cycle exactly as the worker's `sync` job runs it (`lmsdata.worker.jobs.sync_and_evaluate`):
  - the requests it issues, counted by the sandbox, against the minimum an incremental sync needs
    (the token listing, and per district its object and ceil(events / 10000) pages of events, at least
    one), so the ratio is 1.00 when nothing is fetched twice;
  - the cycle's wall time and this process's peak RSS;
  - the rule evaluation alone (`evaluate_rules`, every rule over every district), timed again on
    the same cache right after: the goal is under 1 s on `large`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sync import change_one_percent, optimized_sync, peak_rss, sandbox_process, warm_up  # noqa: E402
from lmsdata.config import Settings  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.sandbox.core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET  # noqa: E402
from lmsdata.worker.config import WorkerConfig  # noqa: E402
from lmsdata.worker.jobs import evaluate_rules, sync_and_evaluate  # noqa: E402


def requests_served(url: str) -> int:
    stats = httpx.get(f"{url}/__sandbox/stats", timeout=60).json()["result"]
    return sum(stats["requests_by_route"].values())


def minimum_incremental_requests(db_path: Path, run_id: int) -> int:
    """What an incremental sync of every district needs: nothing fetched twice."""
    with connect(db_path) as db:
        per_district = dict(db.execute("SELECT id, 0 FROM districts").fetchall())
        per_district.update(db.execute(
            "SELECT district_id, COUNT(*) FROM events WHERE sync_run_id = ? GROUP BY district_id", [run_id]
        ).fetchall())
    return 1 + sum(1 + max(1, math.ceil(n / 10_000)) for n in per_district.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="large", choices=["tiny", "demo", "large"])
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    db_path = Path(tempfile.mkdtemp(prefix="lmsdata-bench-worker-")) / "cache.db"

    with sandbox_process(args.scale) as sandbox:
        started = time.perf_counter()
        warm_up(sandbox.url)
        full = optimized_sync(sandbox.url, db_path, concurrency=args.concurrency)
        assert not full.failed, full.failed
        changed = change_one_percent(sandbox.url, db_path)
        print(f"setup ({args.scale}): full sync of {len(full.districts)} districts and {changed:,} users changed "
              f"in {time.perf_counter() - started:.0f} s; cache {db_path}")

        settings = Settings(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, api_url=sandbox.url,
                            oauth_url=sandbox.url, db_path=db_path)
        config = WorkerConfig()
        before = requests_served(sandbox.url)
        with peak_rss() as peak:
            cycle_started = time.perf_counter()
            summary = sync_and_evaluate(settings, config, lambda: datetime.now(UTC), full=False)
            cycle_s = time.perf_counter() - cycle_started
            cycle_peak = peak()
        issued = requests_served(sandbox.url) - before
        with connect(db_path) as db:
            run_id = db.execute("SELECT MAX(id) FROM sync_runs").fetchone()[0]
        minimum = minimum_incremental_requests(db_path, run_id)

        rules_started = time.perf_counter()
        open_alerts = evaluate_rules(settings, config, datetime.now(UTC))
        rules_s = time.perf_counter() - rules_started

    print(f"worker cycle: {summary}")
    print(f"  {cycle_s:.1f} s wall; requests {issued:,} (minimum {minimum:,}, ratio {issued / minimum:.2f}); "
          f"peak RSS {cycle_peak:.0f} MB")
    print(f"  rule evaluation alone: {rules_s:.2f} s over {len(full.districts)} districts "
          f"({open_alerts} alert(s) open; goal under 1 s)")


if __name__ == "__main__":
    main()
