"""One row per district with its health: what `lmsdata status` prints and the pages can reuse."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from lmsdata.health import Thresholds, assess, normal_state, urgency
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
    since = lms_state_since(db)
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


# Per cached district: its newest pull (the current lms_state) and its first pull.
_NEWEST = """
SELECT d.id, h.lms_state, (SELECT MIN(f.pulled_at) FROM district_history f WHERE f.district_id = d.id)
FROM districts d JOIN district_history h ON h.id = (
    SELECT n.id FROM district_history n WHERE n.district_id = d.id ORDER BY n.pulled_at DESC, n.id DESC LIMIT 1)
"""
# Per cached district and raw lms_state it ever had: when it was last seen. Each distinct state is found by
# one seek in the (district_id, lms_state, pulled_at) index (m013), its newest pull by another.
_LAST_SEEN = """
WITH RECURSIVE states(district_id, state) AS (
    SELECT d.id, (SELECT MIN(h.lms_state) FROM district_history h WHERE h.district_id = d.id) FROM districts d
    UNION ALL
    SELECT s.district_id, (SELECT MIN(h.lms_state) FROM district_history h
                           WHERE h.district_id = s.district_id AND h.lms_state > s.state)
    FROM states s WHERE s.state IS NOT NULL
)
SELECT s.district_id, s.state, (SELECT MAX(h.pulled_at) FROM district_history h
                                WHERE h.district_id = s.district_id AND h.lms_state = s.state)
FROM states s WHERE s.state IS NOT NULL
UNION ALL
SELECT d.id, NULL, (SELECT MAX(h.pulled_at) FROM district_history h WHERE h.district_id = d.id AND h.lms_state IS NULL)
FROM districts d
"""


def lms_state_since(db: sqlite_utils.Database) -> dict[str, str]:
    """For each cached district with history, when its current lms_state was first seen: the same answer
    as `health.state_since` over all of district_history (tests compare them), without reading it.

    Reading every pull into Python took 13 s on a month of 15-minute pulls for 520 districts; here it is
    two queries of index seeks plus two seeks per district whose state ever changed.
    """
    newest = {d: (normal_state(state), first) for d, state, first in db.execute(_NEWEST).fetchall()}
    last_seen: dict[str, list[tuple[str, str]]] = {}
    for district_id, state, at in db.execute(_LAST_SEEN).fetchall():
        if at is not None:
            last_seen.setdefault(district_id, []).append((normal_state(state), at))
    since: dict[str, str] = {}
    for district_id, (current, first) in newest.items():
        edge_at = max((at for state, at in last_seen.get(district_id, []) if state != current), default=None)
        if edge_at is None:  # one state all along
            since[district_id] = first
            continue
        # the last pull in another state, ties on pulled_at broken by id as `state_since` sorts them
        edge_id = max(row_id for row_id, state in db.execute(
            "SELECT id, lms_state FROM district_history WHERE district_id = ? AND pulled_at = ?",
            [district_id, edge_at]).fetchall() if normal_state(state) != current)
        since[district_id] = db.execute(
            "SELECT MIN(pulled_at) FROM district_history WHERE district_id = ? AND (pulled_at, id) > (?, ?)",
            [district_id, edge_at, edge_id]).fetchone()[0]
    return since
