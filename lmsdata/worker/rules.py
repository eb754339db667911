"""The alert rules: what is wrong now, per (rule, subject), from the rows `lmsdata.status` builds.

Each district rule is a plain function of one district row and its thresholds, so the rules test as a
table and `alerts.reconcile` alone decides what opens and what resolves. Two rules are not about one
district: `failure_clusters` (the same error in several districts: subject `cluster:KEY`) and
`worker_silent` (subject `worker`, evaluated by `lmsdata alerts watch` and by the worker on start).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
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


def matched_dropped(row: Row, t: Thresholds, now: datetime) -> str | None:
    """Matched students fell by more than `match_drop_points` from their best in the history window."""
    matched, before = row.get("matched_students"), row.get("matched_before")
    if matched is None or before is None or before - matched <= t.match_drop_points:
        return None
    return (f"matched students fell from {before:.1f}% to {matched:.1f}% "
            f"(more than {t.match_drop_points:g} points within the history window)")


def unmatched_growing(row: Row, t: Thresholds, now: datetime) -> str | None:
    """Unmatched students grew by at least `unmatched_growth` over their fewest in the history window."""
    count, before = row.get("unmatched_students"), row.get("unmatched_before")
    if count is None or before is None or t.unmatched_growth < 1 or count - before < t.unmatched_growth:
        return None
    return f"unmatched students grew from {before} to {count} (threshold: {t.unmatched_growth} more)"


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
    "matched_dropped": matched_dropped,
    "unmatched_growing": unmatched_growing,
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


CLUSTER_RULE = "failure_cluster"
WORKER_RULE = "worker_silent"
WORKER_SUBJECT = "worker"


def cluster_key(signature: str) -> str:
    """A short stable key for an error signature: the alert subject (and case subject) is `cluster:KEY`."""
    return "cluster:" + hashlib.sha256(signature.encode()).hexdigest()[:12]


def failure_clusters(
    failures: Iterable[Row], *, min_districts: int, window_minutes: float, now: datetime
) -> dict[tuple[str, str], str]:
    """The same error signature (`queries.error_signature`) in >= `min_districts` districts within the window.

    `failures` are failed pushes with `district_id`, `last_message` and `updated_at`; one outage at Clever
    or an LMS shows as one cluster alert instead of one failed-push alert per district.
    """
    from lmsdata.queries import error_signature

    since = now - timedelta(minutes=window_minutes)
    districts: dict[str, set[str]] = {}
    for push in failures:
        if push.get("updated_at") and parse_time(str(push["updated_at"])) >= since:  # type: ignore[operator]
            districts.setdefault(error_signature(push.get("last_message")), set()).add(str(push["district_id"]))
    return {
        (CLUSTER_RULE, cluster_key(signature)):
            f"{len(ids)} districts failed with the same error within {window_minutes:g} min: {signature} "
            f"(districts {', '.join(sorted(ids))})"
        for signature, ids in sorted(districts.items())
        if len(ids) >= max(1, min_districts)
    }


def worker_silent(last_activity: datetime | None, *, silent_minutes: float, now: datetime) -> str | None:
    """No heartbeat (or finished job) for longer than `silent_minutes`; None when no worker ever ran here."""
    if last_activity is None:
        return None
    minutes = (now - last_activity).total_seconds() / 60
    if minutes <= silent_minutes:
        return None
    return f"the worker has not been heard from for {minutes:.0f} min (expected within {silent_minutes:g} min)"


def describe(health: Thresholds, alerts: Any, overrides: int = 0) -> list[dict[str, str]]:
    """Every rule with what it checks and its thresholds, for the Alerts page (`alerts` is AlertThresholds)."""
    window = f"{alerts.history_window_hours:g} h"
    rows = [
        ("lms_state_regression", "lms_state is no longer 'success' after having been", "-"),
        ("stale_lms_sync", "the LMS last synced too long ago", f"stale_sync_hours = {health.stale_sync_hours:g}"),
        ("matched_below_target", "matched students below the target", f"match_target = {health.match_target:g}%"),
        ("failed_pushes", "failed grade pushes", f"failed_pushes_alert = {health.failed_pushes_alert}"),
        ("token_refused", "Clever refused the district's token (or no longer lists it)", "-"),
        ("term_not_ready", "new-term sections still unmatched after the grace days", "docs/readiness.md"),
        ("matched_dropped", f"matched students fell from their best in the last {window}",
         f"match_drop_points = {health.match_drop_points:g}"),
        ("unmatched_growing", f"unmatched students grew over their fewest in the last {window}",
         f"unmatched_growth = {health.unmatched_growth}"),
        (CLUSTER_RULE, "the same error signature in several districts (subject cluster:KEY)",
         f"cluster_districts = {alerts.cluster_districts} within {alerts.cluster_window_minutes:g} min"),
        (WORKER_RULE, "no heartbeat from the worker (lmsdata alerts watch; the worker on start)",
         f"worker_silent_minutes = {alerts.worker_silent_minutes:g}"),
    ]
    note = f"; {overrides} district override(s)" if overrides else ""
    return [{"rule": r, "checks": c, "thresholds": t + (note if t != "-" and r in DISTRICT_RULES else "")}
            for r, c, t in rows]
