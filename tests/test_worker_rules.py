"""The alert rules as tables (district rules, failure clusters, worker silent), with per-district overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lmsdata.errors import TokenRevoked
from lmsdata.health import Thresholds
from lmsdata.worker.rules import cluster_key, evaluate, failure_clusters, worker_silent

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OK = {"id": "d1", "lms_state": "success", "was_success": True, "last_lms_sync": "2026-12-01T10:00:00Z",
      "matched_students": 99.0, "failed_pushes": 0, "unmatched_students": 4}  # fmt: skip
# One earlier pull in the history window (the baselines the drop and growth rules compare with).
EARLIER = {"matched_before": 99.0, "unmatched_before": 4}


@pytest.mark.parametrize(("change", "rule"), [
    ({}, None),
    ({"lms_state": "error"}, "lms_state_regression"),
    ({"last_lms_sync": "2026-11-28T10:00:00Z"}, "stale_lms_sync"),
    ({"matched_students": 80.0}, "matched_below_target"),
    ({"failed_pushes": 3}, "failed_pushes"),
    ({"last_sync_error": TokenRevoked.hint + " GET /v3.0/districts/d1 got 401."}, "token_refused"),
    ({"last_sync_error": "No token for district d1 in the app's Clever token list: ..."}, "token_refused"),
    ({"last_sync_error": "Clever is not answering (timeout)."}, None),
    ({"term_grade": "not ready", "term_reason": "12 days into the term, 40% of its sections synced"}, "term_not_ready"),
    ({"term_grade": "at risk", "term_reason": "3 days into the term, 60% of its sections synced"}, None),
    ({"lms_state": "matching_in_progress", "was_success": False, "matched_students": 10.0,
      "matched_before": 10.0}, None),
    ({**EARLIER}, None),
    ({**EARLIER, "matched_students": 96.0}, None),                                   # 3 points: within 5
    ({**EARLIER, "matched_students": 96.0, "matched_before": 101.5}, "matched_dropped"),  # 5.5 points
    ({**EARLIER, "matched_students": 93.9}, "matched_dropped"),     # (and 93.9 < 95: below target too)
    ({"matched_students": 50.0, "matched_before": None}, "matched_below_target"),    # one pull: no baseline
    ({**EARLIER, "unmatched_students": 13}, None),                                   # 9 more: under 10
    ({**EARLIER, "unmatched_students": 14}, "unmatched_growing"),
    ({"unmatched_students": 14, "unmatched_before": None}, None),
    ({**EARLIER, "unmatched_students": 2}, None),                                    # fewer: fine
])  # fmt: skip
def test_each_rule_holds_only_for_its_condition(change: dict, rule: str | None) -> None:
    found = evaluate([{**OK, **change}], lambda _: Thresholds(), NOW)
    expected = {rule} if rule else set()
    if rule == "matched_dropped" and change["matched_students"] < 95:
        expected.add("matched_below_target")
    assert sorted(name for name, _ in found) == sorted(expected)


@pytest.mark.parametrize(("override", "change", "rule"), [
    (Thresholds(match_drop_points=2), {"matched_students": 96.0}, "matched_dropped"),
    (Thresholds(unmatched_growth=3), {"unmatched_students": 7}, "unmatched_growing"),
    (Thresholds(unmatched_growth=0), {"unmatched_students": 700}, None),              # 0 switches it off
])  # fmt: skip
def test_the_new_district_rules_take_per_district_overrides(override: Thresholds, change: dict,
                                                             rule: str | None) -> None:
    rows = [{**OK, **EARLIER, **change}, {**OK, **EARLIER, **change, "id": "d2"}]
    found = evaluate(rows, lambda did: override if did == "d1" else Thresholds(), NOW)
    assert [key for key in found if key[1] == "d1"] == ([(rule, "d1")] if rule else [])
    assert (rule, "d2") not in found


def _failure(district: str, message: str, minutes_ago: float) -> dict:  # type: ignore[type-arg]
    return {"district_id": district, "last_message": message,
            "updated_at": (NOW - timedelta(minutes=minutes_ago)).isoformat()}


OUTAGE = "Canvas answered 503 for section 1234 after 30 s"
SAME_OUTAGE = "Canvas answered 503 for section 98 after 31 s"  # the same signature once numbers are blanked


@pytest.mark.parametrize(("failures", "clustered"), [
    ([], False),
    ([_failure("d1", OUTAGE, 5), _failure("d2", SAME_OUTAGE, 10), _failure("d3", OUTAGE, 59)], True),
    ([_failure("d1", OUTAGE, 5), _failure("d2", SAME_OUTAGE, 10), _failure("d3", OUTAGE, 61)], False),  # too old
    ([_failure("d1", OUTAGE, 5), _failure("d1", SAME_OUTAGE, 10), _failure("d2", OUTAGE, 1)], False),  # 2 districts
    ([_failure("d1", OUTAGE, 5), _failure("d2", "Student not matched", 10), _failure("d3", OUTAGE, 1)], False),
])  # fmt: skip
def test_a_failure_cluster_needs_the_same_error_in_enough_districts_within_the_window(
    failures: list[dict], clustered: bool  # type: ignore[type-arg]
) -> None:
    found = failure_clusters(failures, min_districts=3, window_minutes=60, now=NOW)
    if not clustered:
        assert found == {}
        return
    [(rule, subject)] = found
    assert rule == "failure_cluster" and subject.startswith("cluster:") and subject == cluster_key(
        "Canvas answered # for section # after # s")
    assert "3 districts" in found[(rule, subject)] and "d1, d2, d3" in found[(rule, subject)]


@pytest.mark.parametrize(("minutes_ago", "silent"), [(None, False), (30, False), (60, False), (61, True)])
def test_the_worker_is_silent_after_the_configured_minutes(minutes_ago: float | None, silent: bool) -> None:
    last = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    assert bool(worker_silent(last, silent_minutes=60, now=NOW)) is silent


def test_a_district_override_changes_only_that_district() -> None:
    rows = [{**OK, "matched_students": 85.0}, {**OK, "id": "d2", "matched_students": 85.0}]
    found = evaluate(rows, lambda did: Thresholds(match_target=80) if did == "d1" else Thresholds(), NOW)
    assert list(found) == [("matched_below_target", "d2")]
