"""Budget before bulk vs reality: bench/retry.py's workload, estimated first, then retried and timed.

Run: .venv/bin/python bench/budget.py [--districts 50] [--busy 5] [--busy-pushes 1500] [--pushes 10200]

Prints the estimate (`lmsdata.budget.estimate_retry`, read from the push log before anything is sent),
the measured wall time and requests of the bulk retry (started on a window boundary, as bench/retry.py
does), and the ratios: estimated / measured time, projected / issued requests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.retry import build_failed_pushes, choose_districts, wait_for_window  # noqa: E402
from bench.sync import new_client, sandbox_process  # noqa: E402
from lmsdata.budget import BudgetSettings, estimate_retry  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.pushes import RetryOptions, retry_pushes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--districts", type=int, default=50)
    parser.add_argument("--busy", type=int, default=5)
    parser.add_argument("--busy-pushes", type=int, default=1500)
    parser.add_argument("--pushes", type=int, default=10_200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    districts = choose_districts(args.districts)
    per_quiet = (args.pushes - args.busy * args.busy_pushes) // max(args.districts - args.busy, 1)
    plan = {d: (args.busy_pushes if i < args.busy else per_quiet) for i, d in enumerate(districts)}
    db_path = Path(tempfile.mkdtemp(prefix="bench-budget-")) / "lmsdata.db"
    with sandbox_process("large") as sandbox:
        with new_client(sandbox.url) as client:
            ids = build_failed_pushes(client, db_path, plan)
        with connect(db_path) as db:
            projected = estimate_retry(db, BudgetSettings(concurrency=args.concurrency))
        wait_for_window()
        with new_client(sandbox.url) as client:
            started = time.perf_counter()
            report = retry_pushes(client, db_path, all_failed=True, options=RetryOptions(concurrency=args.concurrency))
            wall = time.perf_counter() - started
    print(f"pushes: {len(ids):,} over {len(plan)} districts, concurrency {args.concurrency}")
    print(f"estimate: {projected.summary()}")
    print(f"estimated time  {projected.seconds:.1f} s   measured {wall:.1f} s   "
          f"ratio {projected.seconds / wall:.3f}")  # fmt: skip
    print(f"projected requests  {projected.requests:,}   issued {report.requests:,}   "
          f"ratio {projected.requests / max(report.requests, 1):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
