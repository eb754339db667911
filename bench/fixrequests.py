"""What fix requests cost on the `large` cache: the hook every sync runs, a big request, its tracking.

    .venv/bin/python bench/fixrequests.py [--db bench/out/large.db]

The large cache is the one bench/ui.py builds (520 districts, 1,000,000 users); it is built here too
when missing. The benchmark works on a copy, so the cache itself is not changed. Mail goes to the
loopback SMTP sink (lmsdata.mail.MailSink), so the send time is SMTP over loopback, not a real server.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata import fixrequests  # noqa: E402
from lmsdata.db import connect  # noqa: E402
from lmsdata.mail import Mailer, MailSink  # noqa: E402


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=ROOT / "bench" / "out" / "large.db")
    args = parser.parse_args()
    if not args.db.exists():
        sys.path.insert(0, str(ROOT / "bench"))
        from ui import build_large  # the same generator as the page benchmark

        args.db.parent.mkdir(parents=True, exist_ok=True)
        build_large(args.db)
    with tempfile.TemporaryDirectory(prefix="bench-fixrequests-") as scratch:
        path = Path(scratch) / "large.db"
        source = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
        copy = sqlite3.connect(path)
        source.backup(copy)
        source.close()
        copy.close()
        run(path)


def run(path: Path) -> None:
    with connect(path) as db:
        districts = [r[0] for r in db.execute("SELECT id FROM districts ORDER BY id")]
        users = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        largest = db.execute("SELECT district_id FROM users WHERE synced_in_lms = 0 GROUP BY district_id "
                             "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
        hook, _ = timed(lambda: [fixrequests.refresh(db, district_id=d) for d in districts])
    print(f"cache: {len(districts)} districts, {users:,} users; largest unmatched district {largest}")
    print(f"sync hook, no open request: {hook * 1000:.1f} ms for {len(districts)} districts "
          f"({hook / len(districts) * 1e6:.0f} µs per district)")
    elapsed, preview = timed(lambda: fixrequests.preview(path, largest))
    items = len(preview["items"])
    print(f"preview of the largest district: {items:,} items in {elapsed * 1000:.0f} ms")
    with MailSink() as sink:
        elapsed, request = timed(lambda: fixrequests.create(path, largest, actor="bench", email="it@district.example",
                                                            mailer=Mailer.from_url(sink.url)))
        size = len(sink.messages[0].as_bytes())
    print(f"create (build, store {items:,} items, mail {size / 1e6:.1f} MB with the CSV): {elapsed:.2f} s")
    with connect(path) as db:
        db.execute("UPDATE users SET synced_in_lms = 1 WHERE id IN (SELECT object_id FROM fix_request_items "
                   "WHERE request_id = ? AND kind != 'section' AND id % 5 != 0)", [request["id"]])
        db.conn.commit()
        elapsed, counts = timed(lambda: fixrequests.refresh(db, district_id=largest))
        again, _ = timed(lambda: fixrequests.refresh(db, district_id=largest))
        listed, rows = timed(lambda: fixrequests.list_requests(db, district_id=largest))
    print(f"refresh after a sync fixed {counts['fixed']:,} items: {elapsed * 1000:.0f} ms; the next refresh "
          f"(nothing new): {again * 1000:.0f} ms; list: {listed * 1000:.1f} ms ({rows[0]['progress']})")


if __name__ == "__main__":
    main()
