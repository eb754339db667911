"""A bulk retry as a queued job vs the same retry run directly: what the chunks (the cancel points) cost.

Run: .venv/bin/python bench/jobqueue.py [--districts 10] [--pushes 2000] [--chunks 20,50,200]

Builds bench/retry.py's failed pushes on the `large` sandbox, copies the cache once per run, then retries
every push with `retry_pushes` in one call (the minimum) and as a `bulk_retry` job per chunk size
(`lmsdata.jobqueue.run_next`). Prints each run's requests (and the ratio to the direct run), wall time, and
the job's own estimate (`lmsdata.budget`, recorded at enqueue) next to its actual requests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.retry import build_failed_pushes, choose_districts, wait_for_window  # noqa: E402
from bench.sync import new_client, sandbox_process  # noqa: E402
from lmsdata import jobqueue  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.pushes import retry_pushes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--districts", type=int, default=10)
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--chunks", default="20,50,200")
    args = parser.parse_args()
    districts = choose_districts(args.districts)
    plan = {d: args.pushes // len(districts) for d in districts}
    work = Path(tempfile.mkdtemp(prefix="bench-jobqueue-"))
    built = work / "built.db"
    with sandbox_process("large") as sandbox:
        with new_client(sandbox.url) as client:
            ids = build_failed_pushes(client, built, plan)
        print(f"pushes: {len(ids):,} over {len(plan)} districts")
        direct = work / "direct.db"
        shutil.copy(built, direct)
        wait_for_window()
        with new_client(sandbox.url) as client:
            started = time.perf_counter()
            report = retry_pushes(client, direct, ids)
            wall = time.perf_counter() - started
        print(f"direct retry_pushes   requests {report.requests:>7,}   ratio 1.000   {wall:6.1f} s   {report.counts}")
        for chunk in (int(c) for c in args.chunks.split(",")):
            path = work / f"job-{chunk}.db"
            shutil.copy(built, path)
            job_id = jobqueue.enqueue(path, "bulk_retry", actor="bench", push_ids=ids)
            wait_for_window()
            started = time.perf_counter()
            jobqueue.run_next(lambda: new_client(sandbox.url), path, chunk=chunk)
            took = time.perf_counter() - started
            with connect(path) as db:
                row = jobqueue.get(db, job_id) or {}
                counts = jobqueue.outcome_counts(db, job_id)
            print(f"job, chunk {chunk:>4}       requests {row['actual_requests']:>7,}   "
                  f"ratio {row['actual_requests'] / max(report.requests, 1):.3f}   {took:6.1f} s   {counts}   "
                  f"(estimate {row['estimate_requests']:,} requests, {row['estimate_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
