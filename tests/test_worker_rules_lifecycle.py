"""Each new rule as a table through its whole life, delivered to a real SMTP sink (Apprise mailto://):
the rule's own function finds the condition, the alert opens and mails once, stays quiet within
renotify_hours, mails again after them, and resolves (one more mail) when the rule no longer finds it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata.db import connect
from lmsdata.health import Thresholds
from lmsdata.mail import MailSink
from lmsdata.worker.alerts import reconcile
from lmsdata.worker.config import Channel
from lmsdata.worker.notify import deliver
from lmsdata.worker.rules import CLUSTER_RULE, WORKER_RULE, evaluate, failure_clusters, worker_silent

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ROW = {"id": "d1", "lms_state": "success", "was_success": True, "last_lms_sync": "2026-12-01T10:00:00Z",
       "matched_students": 99.0, "failed_pushes": 0, "matched_before": 99.0, "unmatched_students": 4,
       "unmatched_before": 4}  # fmt: skip
Finder = Callable[[bool, datetime], dict[tuple[str, str], str]]


def district(change: dict) -> Finder:  # type: ignore[type-arg]
    return lambda broken, at: evaluate([{**ROW, **(change if broken else {})}], lambda _: Thresholds(), at)


def cluster(broken: bool, at: datetime) -> dict[tuple[str, str], str]:
    failures = [{"district_id": d, "last_message": "Canvas answered 503", "updated_at": (at - timedelta(minutes=5))
                 .isoformat()} for d in (("d1", "d2", "d3") if broken else ("d1",))]
    return failure_clusters(failures, min_districts=3, window_minutes=60, now=at)


def silent(broken: bool, at: datetime) -> dict[tuple[str, str], str]:
    last = at - timedelta(minutes=90 if broken else 1)
    detail = worker_silent(last, silent_minutes=60, now=at)
    return {(WORKER_RULE, "worker"): detail} if detail else {}


@pytest.mark.parametrize(("rule", "find"), [
    ("matched_dropped", district({"matched_students": 93.0})),
    ("unmatched_growing", district({"unmatched_students": 40})),
    (CLUSTER_RULE, cluster),
    (WORKER_RULE, silent),
])  # fmt: skip
def test_each_new_rule_opens_mails_once_renotifies_on_schedule_and_resolves(
    db_path: Path, rule: str, find: Finder
) -> None:
    with MailSink() as sink:
        port = sink.url.rsplit(":", 1)[1]
        channels = [Channel(f"mailto://127.0.0.1:{port}?from=alerts@example.org&to=ops@example.org",
                            frozenset({rule}))]
        mails: list[int] = []
        with connect(db_path) as db:
            for minutes, broken in ((0, True), (15, True), (6 * 60, True), (6 * 60 + 15, True), (7 * 60, False),
                                    (7 * 60 + 15, False)):
                at = NOW + timedelta(minutes=minutes)
                reconcile(db, {k: v for k, v in find(broken, at).items() if k[0] == rule}, rules=[rule], now=at,
                          renotify_hours=6, channels=channels)
                deliver(db, channels, at)
                mails.append(len(sink.messages))
        subjects = [m["Subject"].split(":")[0] for m in sink.messages]
    assert mails == [1, 1, 2, 2, 3, 3]
    assert subjects == ["Alert", "Still open", "Resolved"]
