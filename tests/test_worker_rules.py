"""The district alert rules as a table, with a per-district override."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lmsdata.errors import TokenRevoked
from lmsdata.health import Thresholds
from lmsdata.worker.rules import evaluate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OK = {"id": "d1", "lms_state": "success", "was_success": True, "last_lms_sync": "2026-12-01T10:00:00Z",
      "matched_students": 99.0, "failed_pushes": 0}  # fmt: skip


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
    ({"lms_state": "matching_in_progress", "was_success": False, "matched_students": 10.0}, None),
])  # fmt: skip
def test_each_rule_holds_only_for_its_condition(change: dict, rule: str | None) -> None:
    found = evaluate([{**OK, **change}], lambda _: Thresholds(), NOW)
    assert sorted(name for name, _ in found) == ([rule] if rule else [])


def test_a_district_override_changes_only_that_district() -> None:
    rows = [{**OK, "matched_students": 85.0}, {**OK, "id": "d2", "matched_students": 85.0}]
    found = evaluate(rows, lambda did: Thresholds(match_target=80) if did == "d1" else Thresholds(), NOW)
    assert list(found) == [("matched_below_target", "d2")]
