"""The match-drop and unmatched-growth rules through the sandbox's control plane and real worker syncs:
Clever unmatches students, a sync opens both alerts (one notification each), they re-notify on schedule,
and when the students are matched again a sync resolves both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata.db import connect
from lmsdata.health import Thresholds
from lmsdata.worker.config import Channel, WorkerConfig
from lmsdata.worker.jobs import sync_and_evaluate
from tests.push_fixtures import Lab, running_lab

RULES = ("matched_dropped", "unmatched_growing")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with running_lab(tmp_path) as lab:
        yield lab


def _alerts(lab: Lab) -> list[tuple[str, str]]:
    with connect(lab.db_path) as db:
        return [(r["rule"], r["state"]) for r in db.query(
            f"SELECT * FROM alerts WHERE rule IN ({', '.join('?' for _ in RULES)}) ORDER BY rule", RULES)]


def _queued(lab: Lab) -> list[str]:
    with connect(lab.db_path) as db:
        return sorted(r[0].split(":", 2)[2] + ":" + r[1] for r in db.execute(
            "SELECT o.event_key, a.rule FROM outbox o JOIN alerts a ON o.event_key LIKE 'alert:' || a.id || ':%'"
        ).fetchall() if r[1] in RULES)


def test_unmatching_students_opens_the_drop_and_growth_alerts_and_matching_them_resolves_both(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    matched = [u["id"] for u in lab.sandbox.users(canvas, role="student")
               if (u.get("lms_status") or {}).get("synced_in_lms")]
    assert len(matched) >= 4
    config = WorkerConfig(channels=(Channel("json://127.0.0.1:9/alerts", frozenset(RULES)),),
                          district_overrides={canvas: Thresholds(unmatched_growth=3)})
    clock = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]

    def run() -> None:
        clock[0] += timedelta(minutes=15)
        sync_and_evaluate(lab.settings, config, lambda: clock[0], full=False)

    run()
    assert _alerts(lab) == []
    for student in matched[:3]:
        lab.sandbox.set_user_matched(student, False)
    run()
    assert _alerts(lab) == [("matched_dropped", "open"), ("unmatched_growing", "open")]
    run()  # still so, within renotify_hours: nothing new
    assert _queued(lab) == ["opened:matched_dropped", "opened:unmatched_growing"]
    clock[0] += timedelta(hours=6)
    run()
    run()
    assert _queued(lab) == ["opened:matched_dropped", "opened:unmatched_growing",
                            "renotify:2:matched_dropped", "renotify:2:unmatched_growing"]
    with connect(lab.db_path) as db:
        details = dict(db.execute("SELECT rule, detail FROM alerts").fetchall())
    assert "matched students fell from" in details["matched_dropped"]
    assert "unmatched students grew from" in details["unmatched_growing"] and "threshold: 3 more" in details[
        "unmatched_growing"]

    for student in matched[:3]:
        lab.sandbox.set_user_matched(student, True)
    run()
    assert _alerts(lab) == [("matched_dropped", "resolved"), ("unmatched_growing", "resolved")]
    assert [k for k in _queued(lab) if k.startswith("resolved")] == ["resolved:matched_dropped",
                                                                     "resolved:unmatched_growing"]
