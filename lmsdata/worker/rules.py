"""The district alert rules: what is wrong now, per (rule, subject), from the rows `lmsdata.status` builds.

Each rule is a plain function of one district row and its thresholds, so the rules test as a table and
`alerts.reconcile` alone decides what opens and what resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from lmsdata.errors import TokenRevoked
from lmsdata.health import Thresholds, parse_time
from lmsdata.terms import NOT_READY

Row = Mapping[str, Any]
Rule = Callable[[Row, Thresholds, datetime], str | None]


def lms_state_regression(row: Row, t: Thresholds, now: datetime) -> str | None:
    state = row.get("lms_state")
    if row.get("was_success") and state != "success":
        return f"lms_state is {state or 'not set'!s} after having been 'success'"
    return None


def stale_lms_sync(row: Row, t: Thresholds, now: datetime) -> str | None:
    last = row.get("last_lms_sync")
    if row.get("lms_state") != "success" or not last:
        return None
    hours = (now - parse_time(last)).total_seconds() / 3600  # type: ignore[operator]
    return f"the LMS last synced {hours:.0f} h ago (expected within {t.stale_sync_hours:.0f} h)" \
        if hours > t.stale_sync_hours else None


def matched_below_target(row: Row, t: Thresholds, now: datetime) -> str | None:
    matched = row.get("matched_students")
    if row.get("lms_state") != "success" or matched is None or matched >= t.match_target:
        return None
    return f"{matched:.1f}% of students matched (target {t.match_target:.0f}%)"


def failed_pushes(row: Row, t: Thresholds, now: datetime) -> str | None:
    count = int(row.get("failed_pushes") or 0)
    if count < max(1, t.failed_pushes_alert):
        return None
    return f"{count} failed grade pushes (threshold {t.failed_pushes_alert})"


# How a sync's district error starts when Clever refused the token (401/403) or no longer lists it
# (`lmsdata.sync.NoToken`): the cache keeps only the message, so the rule reads its start.
REFUSED_PREFIXES = (TokenRevoked.hint, "No token for district")


def token_refused(row: Row, t: Thresholds, now: datetime) -> str | None:
    error = row.get("last_sync_error") or ""
    return f"the last sync was refused: {error}" if error.startswith(REFUSED_PREFIXES) else None


def term_not_ready(row: Row, t: Thresholds, now: datetime) -> str | None:
    """New-term sections still unmatched days after the term started (`lmsdata.terms.grade_term` decides)."""
    return row.get("term_reason") if row.get("term_grade") == NOT_READY else None


DISTRICT_RULES: dict[str, Rule] = {
    "lms_state_regression": lms_state_regression,
    "stale_lms_sync": stale_lms_sync,
    "matched_below_target": matched_below_target,
    "failed_pushes": failed_pushes,
    "token_refused": token_refused,
    "term_not_ready": term_not_ready,
}


def evaluate(
    rows: Sequence[Row], thresholds_for: Callable[[str], Thresholds], now: datetime
) -> dict[tuple[str, str], str]:
    """Every (rule, district id) that holds now, with what it found."""
    found: dict[tuple[str, str], str] = {}
    for row in rows:
        t = thresholds_for(str(row["id"]))
        for name, rule in DISTRICT_RULES.items():
            detail = rule(row, t, now)
            if detail:
                found[(name, str(row["id"]))] = detail
    return found
