"""The match-drop and unmatched-growth rules through the sandbox's control plane and real worker syncs:
Clever unmatches students, a sync opens both alerts (one notification each), they re-notify on schedule,
and when the students are matched again a sync resolves both. The same 503 in two districts opens one
failure-cluster alert, and sending the pushes resolves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lmsdata.db import connect
from lmsdata.health import Thresholds
from lmsdata.pushes import SendPolicy
from lmsdata.pushes.retry import RetryOptions, retry_pushes
from lmsdata.worker.config import AlertThresholds, Channel, WorkerConfig
from lmsdata.worker.jobs import evaluate_rules, sync_and_evaluate
from tests.push_fixtures import ASSIGNMENT, Lab

RULES = ("matched_dropped", "unmatched_growing")


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


def test_the_same_503_in_two_districts_opens_one_cluster_alert_that_resolves_when_the_pushes_are_sent(
    lab: Lab
) -> None:
    config = WorkerConfig(alerts=AlertThresholds(cluster_districts=2),
                          channels=(Channel("json://127.0.0.1:9/alerts", frozenset({"failure_cluster"})),))
    failed = []
    with lab.client() as client:
        for lms in ("canvas", "schoology"):
            district = lab.district("success", lms)
            section = lab.synced_section(district)
            pusher = lab.pusher(client, policy=SendPolicy(auto_retries=0))
            assert pusher.create_assignment(district, section["id"], "quiz-1", ASSIGNMENT).ok
            student = lab.students(section)[0]
            lab.sandbox.inject(f"/submissions/{student}", status=503, count=1, method="PATCH")
            result = pusher.push_grade(district, section["id"], "quiz-1", student, {"grade_points": 9})
            assert result.state == "failed"
            failed.append(result.push_id)

        at = datetime.now(UTC)  # the pushes' times are the real clock's
        evaluate_rules(lab.settings, config, at)
        evaluate_rules(lab.settings, config, at + timedelta(minutes=5))
        with connect(lab.db_path) as db:
            [cluster] = db.query("SELECT * FROM alerts WHERE rule = 'failure_cluster'")
            queued = [r[0] for r in db.execute("SELECT event_key FROM outbox").fetchall()]
        assert cluster["subject"].startswith("cluster:") and "2 districts failed with the same error" in cluster[
            "detail"]
        assert queued == [f"alert:{cluster['id']}:opened"]

        retry_pushes(client, lab.db_path, failed, actor="test", options=RetryOptions(policy=SendPolicy(auto_retries=0)))
        evaluate_rules(lab.settings, config, at + timedelta(minutes=10))
    with connect(lab.db_path) as db:
        [after] = db.query("SELECT * FROM alerts WHERE rule = 'failure_cluster'")
        queued = [r[0] for r in db.execute("SELECT event_key FROM outbox").fetchall()]
    assert after["state"] == "resolved" and queued[-1] == f"alert:{cluster['id']}:resolved"
