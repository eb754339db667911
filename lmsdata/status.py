"""One row per district with its health: what `lmsdata status` prints and the pages can reuse."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from lmsdata.health import Thresholds, assess, state_since, urgency
from lmsdata.invitations import latest_invitations
from lmsdata.lti import EXPLANATION_URL, lti_launch

COLUMNS = (
    "id", "name", "lms_type", "lms_state", "health", "owner", "next_step", "last_lms_sync",
    "matched_students", "matched_teachers", "matched_sections", "unmatched_students", "unmatched_teachers",
    "unsynced_sections", "failed_pushes", "last_pulled_at", "last_sync_error", "sis_error", "reasons",
    "lti_launch", "lti_launch_why",
)  # fmt: skip


def district_rows(
    db: sqlite_utils.Database, *, now: datetime | None = None, thresholds: Thresholds | None = None
) -> list[dict[str, Any]]:
    """Every cached district, most urgent first, then by name.

    Health sees what `assess` can use: when the current lms_state began (from district_history)
    and the newest invitation, so a not-connected district shows who acts on it.
    """
    now = now or datetime.now(UTC)
    districts = list(
        db.query(
            "SELECT d.*, COALESCE(p.failed, 0) AS failed_pushes FROM districts d "
            "LEFT JOIN (SELECT district_id, COUNT(*) AS failed FROM pushes WHERE state = 'failed' "
            "GROUP BY district_id) p ON p.district_id = d.id"
        )
    )
    since = state_since(
        list(db.query("SELECT id, district_id, pulled_at, lms_state FROM district_history ORDER BY district_id"))
    )
    invitations = latest_invitations(db, now)
    failed_by_category: dict[str, dict[str, int]] = {}
    for failed in db.query(
        "SELECT district_id, category, COUNT(*) AS n FROM pushes WHERE state = 'failed' GROUP BY district_id, category"
    ):
        failed_by_category.setdefault(failed["district_id"], {})[failed["category"] or ""] = failed["n"]
    rows = []
    for district in districts:
        district["lms_state_since"] = since.get(district["id"])
        district.update(invitations.get(district["id"], {}))
        district["failed_by_category"] = failed_by_category.get(district["id"], {})
        health = assess(district, now=now, thresholds=thresholds)
        row = {column: district.get(column) for column in COLUMNS}
        row.update(health=health.status, owner=health.owner, next_step=health.next_step)
        launch = lti_launch(district.get("lms_type"))
        row.update(lti_launch=launch.label, lti_launch_why=f"{launch.explanation} See {EXPLANATION_URL}")
        row["reasons"] = [asdict(reason) for reason in health.reasons]
        rows.append(row)
    rows.sort(key=lambda r: (urgency(r["health"]), (r["name"] or "").lower(), r["id"]))
    return rows
