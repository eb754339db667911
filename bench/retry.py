"""Bulk retry of failed grade pushes against the `large` sandbox at Clever's default limit (1200/min/token).

Run: .venv/bin/python bench/retry.py [--districts 50] [--busy 5] [--busy-pushes 1500] [--pushes 10200]

What it measures, all in this one process against the sandbox in a child process (bench/sync.py's):
  1. setup (not timed): `--districts` ready districts (Canvas / Google Classroom, not the huge ones) are
     read through the Data API; one assignment is created per section used, and `--pushes` failed
     grade pushes (a 503, category transient) are written to the push log: `--busy` districts get
     `--busy-pushes` each (more than one rate-limit window's worth), the others share the rest;
  2. the bulk retry (`retry_pushes(all_failed=True)`), started on a minute boundary so every token
     has a fresh window: wall time, requests, 429s received, and every grade written exactly once;
  3. the rate-limit floor: the least time the limits allow, from the requests each district needed:
     a token that needs r requests at L a minute cannot finish before (ceil(r / L) - 1) minutes;
  4. the baseline, in the same run: the same engine driven one push at a time (a separate
     `retry_pushes([id])` per push, sequentially, as when a person retries row by row) on a subset,
     extrapolated to all the pushes (and never below its own rate-limit floor: 2 requests a push).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sync import new_client, sandbox_process  # noqa: E402
from lmsdata.client import CleverClient  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.pushes import GradePusher, RetryOptions, retry_pushes  # noqa: E402
from lmsdata.pushes import log as push_log  # noqa: E402
from lmsdata.pushes.taxonomy import Category  # noqa: E402
from lmsdata.sandbox.data import plan_districts  # noqa: E402
from lmsdata.sandbox.ids import Kind, object_id  # noqa: E402

SEED, LIMIT, WINDOW_S = 7, 1200, 60.0
DUE = "2031-06-30T23:59:00.000Z"


def choose_districts(count: int) -> list[str]:
    """Ready districts without Schoology (a launch nobody can see through the API would fail grades)."""
    plans = [p for p in plan_districts(SEED, "large") if p.lms_state == "success"
             and p.lms_type in ("canvas", "google_classroom") and 600 <= p.users <= 1_900]  # fmt: skip
    plans.sort(key=lambda p: -p.users)
    if len(plans) < count:
        raise SystemExit(f"only {len(plans)} suitable districts in the large sandbox")
    return [object_id(SEED, p.index, Kind.DISTRICT, 0) for p in plans[:count]]


def gradable_pairs(client: CleverClient, district_id: str) -> list[tuple[str, str]]:
    """(section, student) pairs Clever will accept: synced section, matched student."""
    dc = client.district(district_id)
    matched = {u["id"] for u in dc.iter_users(role="student") if (u.get("lms_status") or {}).get("synced_in_lms")}
    return [(s["id"], student) for s in dc.iter_sections() if (s.get("lms_status") or {}).get("synced_in_lms")
            for student in s.get("students") or [] if student in matched]  # fmt: skip


def build_failed_pushes(client: CleverClient, db_path: Path, plan: dict[str, int]) -> list[int]:
    """Create the assignments for real, then log one failed grade push per (section, student)."""
    with GradePusher(client, db_path) as pusher:
        chosen: dict[str, list[tuple[str, str]]] = {}
        for district_id, wanted in plan.items():
            pairs = gradable_pairs(client, district_id)[:wanted]
            if len(pairs) < wanted:
                raise SystemExit(f"district {district_id} has only {len(pairs)} gradable pairs")
            for section_id in dict.fromkeys(s for s, _ in pairs):
                body = {"title": "Bench quiz", "description": "bench", "due_date": DUE}
                if not pusher.create_assignment(district_id, section_id, "bench", body).ok:
                    raise SystemExit(f"could not create the bench assignment in {section_id}")
            chosen[district_id] = pairs
    ids = []
    with connect(db_path) as db, db.atomic():
        for district_id, pairs in chosen.items():
            for section_id, student_id in pairs:
                push = push_log.NewPush(district_id, section_id, "bench", "submission_update",
                                        {"grade_points": 17, "state": "returned"}, student_id)  # fmt: skip
                push_id = push_log.insert_push(db, push, source="bench", state="pending")
                attempt = push_log.start_attempt(db, push_id, trigger="first")
                result = push_log.AttemptResult("failed", 503, "Service Unavailable", 12.0, Category.TRANSIENT)
                push_log.finish_attempt(db, push_id, attempt, result, push_state="failed")
                ids.append(push_id)
    return ids


def sandbox_stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/__sandbox/stats", timeout=120).json()["result"]


def floor_seconds(requests_by_district: dict[str, int], limit: int) -> float:
    """The least time a fixed per-minute window allows, starting at a window's beginning."""
    return max((math.ceil(r / limit) - 1) * WINDOW_S for r in requests_by_district.values())


def wait_for_window() -> float:
    """Sleep to just after the next minute boundary (the sandbox's windows are aligned to the minute)."""
    now = time.time()
    start = math.ceil(now / WINDOW_S) * WINDOW_S + 0.2
    time.sleep(start - now)
    return start


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--districts", type=int, default=50)
    parser.add_argument("--busy", type=int, default=5, help="districts that need more than one window")
    parser.add_argument("--busy-pushes", type=int, default=1500)
    parser.add_argument("--pushes", type=int, default=10_200, help="failed pushes in total")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline", type=int, default=200, help="pushes retried one at a time")
    args = parser.parse_args()

    districts = choose_districts(args.districts)
    quiet = args.districts - args.busy
    per_quiet = (args.pushes - args.busy * args.busy_pushes) // max(quiet, 1)
    plan = {d: (args.busy_pushes if i < args.busy else per_quiet) for i, d in enumerate(districts)}
    db_path = Path(tempfile.mkdtemp(prefix="bench-retry-")) / "lmsdata.db"
    with sandbox_process("large") as sandbox:
        with new_client(sandbox.url) as client:
            started = time.perf_counter()
            ids = build_failed_pushes(client, db_path, plan)
            took = time.perf_counter() - started
            print(f"setup: {len(ids):,} failed pushes in {len(plan)} districts "
                  f"({args.busy} x {args.busy_pushes:,}, {quiet} x {per_quiet}) in {took:.1f}s")

        before = sandbox_stats(sandbox.url)
        window_start = wait_for_window()
        with new_client(sandbox.url) as client:
            started = time.perf_counter()
            report = retry_pushes(client, db_path, all_failed=True, options=RetryOptions(concurrency=args.concurrency))
            wall = time.perf_counter() - started
        after = sandbox_stats(sandbox.url)
        lag = time.time() - wall - window_start
        by_district = delta(after["requests_by_district"], before["requests_by_district"])
        writes = Counter((w["assignment_id"], w["user_id"]) for w in after["grade_writes"]
                         if w["kind"] == "submission.update")  # fmt: skip
        outcomes = Counter(item.outcome for item in report.items)
        floor = floor_seconds(by_district, LIMIT)
        rate_limited = after["rate_limited"] - before["rate_limited"]

        # Baseline: a newer grade for some quiet-district students, retried one push at a time.
        subset = [p for p in ids if push_log_district(db_path, p) in districts[args.busy:]][: args.baseline]
        base_ids = newer_failed_copies(db_path, subset)
        with new_client(sandbox.url) as client:
            started = time.perf_counter()
            base_outcomes = Counter(
                item.outcome for push_id in base_ids for item in retry_pushes(client, db_path, [push_id]).items
            )
            base_wall = time.perf_counter() - started
        per_push = base_wall / len(base_ids)
        busiest = max(plan.values())
        base_floor = (math.ceil(2 * busiest / LIMIT) - 1) * WINDOW_S
        base_estimate = max(per_push * len(ids), base_floor)

    results = {
        "pushes": len(ids), "districts": len(plan), "concurrency": args.concurrency,
        "outcomes": dict(outcomes), "wall_s": round(wall, 1), "floor_s": round(floor, 1),
        "wall_over_floor": round(wall / floor, 2) if floor else None,
        "requests": report.requests, "requests_busiest_district": max(by_district.values()),
        "rate_limited_429": rate_limited, "pushes_per_s": round(len(ids) / wall, 1),
        "grade_writes": sum(writes.values()), "written_twice": sum(1 for n in writes.values() if n > 1),
        "start_lag_s": round(lag, 2),
        "baseline_pushes": len(base_ids), "baseline_outcomes": dict(base_outcomes),
        "baseline_s_per_push": round(per_push, 4), "baseline_estimate_s": round(base_estimate, 1),
        "speedup_vs_baseline": round(base_estimate / wall, 1),
    }  # fmt: skip
    out = ROOT / "bench" / "out" / "retry.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(f"(also in {out.relative_to(ROOT)})")
    if outcomes != Counter({"sent": len(ids)}) or results["written_twice"]:
        raise SystemExit("the bulk retry did not send every push exactly once")


def push_log_district(db_path: Path, push_id: int) -> str:
    with connect(db_path) as db:
        return str(db.execute("SELECT district_id FROM pushes WHERE id = ?", [push_id]).fetchone()[0])


def newer_failed_copies(db_path: Path, push_ids: list[int]) -> list[int]:
    """For each push, a newer failed grade for the same student (the same work for the baseline)."""
    copies = []
    with connect(db_path) as db, db.atomic():
        for push_id in push_ids:
            push = push_log.get_push(db, push_id)
            assert push is not None
            new = push_log.NewPush(push["district_id"], push["section_id"], push["assignment_key"], push["kind"],
                                   {"grade_points": 18, "state": "returned"}, push["student_id"])  # fmt: skip
            copy = push_log.insert_push(db, new, source="bench", state="pending")
            result = push_log.AttemptResult("failed", 503, "Service Unavailable", 12.0, Category.TRANSIENT)
            push_log.finish_attempt(db, copy, push_log.start_attempt(db, copy, trigger="first"), result,
                                    push_state="failed")  # fmt: skip
            copies.append(copy)
    return copies


if __name__ == "__main__":
    main()
