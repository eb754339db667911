"""Release pushes blocked on a district- or Clever-fixable condition once a sync shows it fixed.

After each worker sync, a failed push whose blocker the fresh cache now shows cleared (the student
matched, the section synced, the district's lms_state back to `success`) goes through `retry_pushes`
(gated again against Clever, newest payload only), and its `auto_retries` row says why it was released.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from lmsdata.client import CleverClient
from lmsdata.db import connect
from lmsdata.pushes.log import write_transaction
from lmsdata.pushes.retry import RetryOptions, retry_pushes
from lmsdata.pushes.taxonomy import Category
from lmsdata.worker.autoretry import ACTOR

# category -> (the join that shows the condition fixed, why the push was released)
FIXED_WHEN = {
    Category.STUDENT_NOT_MATCHED: ("JOIN users u ON u.id = p.student_id AND u.synced_in_lms = 1",
                                   "the student is now matched in the LMS"),
    Category.SECTION_NOT_SYNCED: ("JOIN sections s ON s.id = p.section_id AND s.synced_in_lms = 1",
                                  "the section is now synced to the LMS"),
    Category.DISTRICT_NOT_READY: ("JOIN districts d ON d.id = p.district_id AND d.lms_state = 'success'",
                                  "the district's lms_state is now 'success'"),
    Category.DISTRICT_LMS_ERROR: ("JOIN districts d ON d.id = p.district_id AND d.lms_state = 'success'",
                                  "the district's lms_state is back to 'success'"),
}


def fixed_blockers(db: sqlite_utils.Database) -> dict[int, str]:
    """Every failed push whose blocking condition the cache now shows fixed, with why."""
    found: dict[int, str] = {}
    for category, (join, why) in FIXED_WHEN.items():
        for (push_id,) in db.execute(
            f"SELECT p.id FROM pushes p {join} WHERE p.state = 'failed' AND p.category = ?", [category.slug]
        ).fetchall():
            found[push_id] = why
    return found


def release_fixed(client: CleverClient, db_path: str | Path, now_iso: str,
                  options: RetryOptions | None = None) -> str:
    """Send what a sync showed unblocked; returns a one-line summary."""
    with connect(db_path) as db:
        found = fixed_blockers(db)
    if not found:
        return "no blocked push released"
    report = retry_pushes(client, db_path, list(found), actor=ACTOR, options=options)
    with connect(db_path) as db, write_transaction(db):
        for item in report.items:
            state = "released" if item.outcome == "sent" else "handed_off"
            note = f"released because {found[item.push_id]}: {item.outcome}" + \
                ("" if item.outcome == "sent" else f" ({item.reason})")
            db.execute(
                "INSERT INTO auto_retries (push_id, attempts, next_at, state, note, updated_at) "
                "VALUES (?, 1, NULL, ?, ?, ?) ON CONFLICT(push_id) DO UPDATE SET attempts = attempts + 1, "
                "next_at = NULL, state = excluded.state, note = excluded.note, updated_at = excluded.updated_at",
                [item.push_id, state, note[:500], now_iso],
            )
    sent = sum(item.outcome == "sent" for item in report.items)
    return f"{sent} of {len(found)} unblocked push(es) released"
