"""Reconcile of 2,000 pushed assignments x 30 students in 50 districts against the sandbox, over loopback.

Run: .venv/bin/python bench/reconcile.py [--districts 50] [--assignments 2000] [--students 30] [--limit 1200]
                                         [--speed 1]

Setup (not timed): the `large` sandbox, in this process; for `--districts` ready Canvas / Google
Classroom districts, `--assignments` assignments spread over their synced sections, each graded for
up to `--students` matched students, written straight into the sandbox's gradebook and, as sent
pushes, into a fresh cache (a sixth of them then changed by a teacher). Timed: one `reconcile` with
the real client (per-token pacer) and one worker per district. Printed: wall time, requests (and the
minimum: one page per 100 submissions per assignment, plus the token listing), 429s, the rate-limit
floor (a token that needs r requests at L a minute cannot finish before (ceil(r / L) - 1) minutes,
windows aligned to the start), wall / floor, and peak traced memory (client and sandbox together).

At Clever's 1,200 a minute a district of 40 assignments needs 40 requests: no window is ever
exhausted and the floor is 0. To measure pacing against a real floor, `--limit 12` gives each token
the same requests-to-limit ratio as a district with 100x the assignments, and `--speed 60` runs the
sandbox's and the client's clocks 60x faster (a 60 s window lasts one real second); time figures are
then reported in sandbox seconds (real seconds x speed), so they read as at real speed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata.client import CleverClient, ClientOptions  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.gradebook import reconcile  # noqa: E402
from lmsdata.pushes.log import iso  # noqa: E402
from lmsdata.sandbox import Sandbox, serve  # noqa: E402
from lmsdata.sandbox.core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET  # noqa: E402
from lmsdata.sandbox.data import plan_districts  # noqa: E402
from lmsdata.sandbox.ids import Kind, assignment_uuid, object_id  # noqa: E402
from lmsdata.sandbox.lms import AssignmentRecord  # noqa: E402
from lmsdata.sandbox.timefmt import iso as clever_iso  # noqa: E402

SEED, WINDOW_S = 7, 60.0


class ScaledClock:
    """Sandbox time running `speed` times faster than real time, starting on a window boundary."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.restart()

    def restart(self) -> None:
        self.base = math.ceil(time.time() / WINDOW_S) * WINDOW_S + WINDOW_S
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return self.base + (time.monotonic() - self.t0) * self.speed

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.speed)


def choose_districts(count: int) -> list[str]:
    plans = [p for p in plan_districts(SEED, "large") if p.lms_state == "success"
             and p.lms_type in ("canvas", "google_classroom") and 600 <= p.users <= 1_900]  # fmt: skip
    plans.sort(key=lambda p: -p.users)
    return [object_id(SEED, p.index, Kind.DISTRICT, 0) for p in plans[:count]]


def matched(sandbox: Sandbox, user_id: str) -> bool:
    return bool((sandbox.user(user_id).get("lms_status") or {}).get("synced_in_lms"))


def populate(sandbox: Sandbox, db_path: Path, district_ids: list[str], assignments: int, students: int,
             now: float) -> Counter[str]:
    """Assignments and grades in the sandbox's gradebook, and the same grades as sent pushes in our cache."""
    book, made, shape = sandbox.gradebook, 0, Counter()
    per_district = math.ceil(assignments / len(district_ids))
    with connect(db_path) as db, db.conn:
        for did in district_ids:
            index = sandbox.world.index_of(did)
            sections = [(s, [u for u in s["students"] if matched(sandbox, u)][:students])
                        for s in sandbox.sections(did) if (s.get("lms_status") or {}).get("synced_in_lms")]
            sections = [(s, kids) for s, kids in sections if kids]
            for n in range(min(per_district, assignments - made)):
                section, kids = sections[n % len(sections)]
                aid = assignment_uuid(SEED, made)
                written = clever_iso(now - 3600)
                book.assignments[aid] = AssignmentRecord(index, section["id"], {
                    "id": aid, "title": f"Bench {made}", "created": written, "last_modified": written})
                db.table("assignments").insert({"district_id": did, "section_id": section["id"],
                                                "assignment_key": f"bench-{made}", "assignment_id": aid})
                pushes = []
                for k, uid in enumerate(kids):
                    teacher = (made + k) % 6 == 0
                    book.submissions[(aid, uid)] = {
                        "assignment_id": aid, "user_id": uid, "state": "returned", "grade": None,
                        "grade_points": 9.0 if teacher else 10.0, "grader_id": section["teacher"] if teacher else None,
                        "last_modified": clever_iso(now - 60 if teacher else now - 3600)}
                    pushes.append({"district_id": did, "section_id": section["id"], "assignment_key": f"bench-{made}",
                                   "student_id": uid, "kind": "submission_update", "payload": '{"grade_points": 10}',
                                   "state": "sent", "attempts": 1, "source": "api", "created_at": iso_at(now - 3600),
                                   "updated_at": iso_at(now - 3500)})
                    shape["submissions"] += 1
                db.table("pushes").insert_all(pushes)
                shape["pages"] += max(1, math.ceil(len(kids) / 100))
                made += 1
                shape["assignments"] += 1
    return shape


def iso_at(seconds: float) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(seconds, UTC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--districts", type=int, default=50)
    parser.add_argument("--assignments", type=int, default=2000)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--limit", type=int, default=1200, help="requests per minute per token")
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed-up of sandbox and client")
    args = parser.parse_args()
    clock = ScaledClock(args.speed)
    sandbox = Sandbox(seed=SEED, scale="large", faults="none", rate_limit=args.limit, clock=clock,
                      cache_weight=5_000_000)  # fmt: skip
    server = serve(sandbox, host="127.0.0.1", port=0)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            db_path = Path(scratch) / "bench.db"
            district_ids = choose_districts(args.districts)
            shape = populate(sandbox, db_path, district_ids, args.assignments, args.students, clock())
            tracemalloc.start()
            clock.restart()  # the timed run starts on a fresh window of every token
            before = sandbox.stats()["rate_limited"]
            started = time.monotonic()
            client = CleverClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=server.url, oauth_url=server.url,
                                  clock=clock, sleep=clock.sleep, options=ClientOptions())  # fmt: skip
            with client:
                report = reconcile(client, db_path, concurrency=len(district_ids))
            wall = (time.monotonic() - started) * args.speed
            peak = tracemalloc.get_traced_memory()[1]
            by_district = sandbox.stats()["requests_by_district"]
            floor = max((math.ceil(r / args.limit) - 1) * WINDOW_S for r in by_district.values())
            print(json.dumps({
                "districts": len(district_ids), **shape, "limit_per_min": args.limit, "speed": args.speed,
                "requests": report.requests, "minimum_requests": shape["pages"] + 1,
                "rate_limited_429": sandbox.stats()["rate_limited"] - before,
                "wall_s": round(wall, 1), "floor_s": round(floor, 1),
                "wall_over_floor": round(wall / floor, 3) if floor else None,
                "peak_traced_mb": round(peak / 2**20, 1), "states": report.summary(),
            }, indent=2))
    finally:
        server.close()


if __name__ == "__main__":
    main()
