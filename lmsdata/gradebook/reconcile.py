"""Read the gradebook back through Clever and store, per student, how it compares with our newest push.

Clever has no endpoint that lists a section's assignments (docs/gradebook.md), so the assignment ids
come from our own `assignments` table; one submissions listing per assignment (100 a page, the
LMS Connect maximum) is the fewest requests the data allows. A listing answered "Assignment does not
exist" marks the assignment gone. Only sections with a push updated since their last reconcile are
read again. Districts run concurrently, each paced by its token's limiter in the client.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata import audit
from lmsdata.access import Actor, Permission
from lmsdata.client import CleverClient, DistrictClient
from lmsdata.db import bump_data_version, connect, utcnow
from lmsdata.errors import CleverError, NotFound
from lmsdata.gradebook.verdict import STATES, verdict
from lmsdata.pushes import log


@dataclass
class ReconcileReport:
    counts: Counter[str] = field(default_factory=Counter)
    sections: int = 0
    requests: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # district id -> what went wrong

    def summary(self) -> dict[str, int]:
        return {state: self.counts.get(state, 0) for state in STATES}


def reconcile(
    client: CleverClient,
    db_path: str | Path,
    *,
    district_id: str | None = None,
    since: str | None = None,
    concurrency: int = 8,
    actor: Actor = "system",
    now: Callable[[], str] = utcnow,
) -> ReconcileReport:
    """Reconcile every section with pushes newer than its last reconcile (or than `since`); the worker's job."""
    who = audit.authorize(db_path, actor, Permission.SYNC, action="reconcile", target=district_id or "all",
                          params={"since": since})  # fmt: skip
    with connect(db_path) as db:
        work = _sections_to_read(db, district_id, since)
    report = ReconcileReport()
    before = client.requests_made
    by_district: dict[str, list[str]] = {}
    for did, sid in work:
        by_district.setdefault(did, []).append(sid)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = pool.map(lambda item: _district(client, db_path, item[0], item[1], now), by_district.items())
        for did, counts, error in results:
            report.counts.update(counts)
            if error:
                report.errors[did] = error
    report.sections = len(work)
    report.requests = client.requests_made - before
    with connect(db_path) as db, db.conn:
        audit.record(db, actor=who, action="reconcile", target=district_id or "all",
                     outcome="partial" if report.errors else "ok",
                     params={"since": since, "sections": report.sections, "requests": report.requests,
                             **report.summary()},
                     detail="; ".join(f"{d}: {e}" for d, e in report.errors.items()) or None)  # fmt: skip
        bump_data_version(db)
    return report


def _sections_to_read(db: sqlite_utils.Database, district_id: str | None, since: str | None) -> list[tuple[str, str]]:
    sql = """
        SELECT DISTINCT p.district_id, p.section_id FROM pushes p
        LEFT JOIN gradebook_sections g ON g.district_id = p.district_id AND g.section_id = p.section_id
        WHERE p.kind = 'submission_update' AND p.state != 'superseded'
          AND (g.reconciled_at IS NULL OR p.updated_at > g.reconciled_at)
          AND (:district IS NULL OR p.district_id = :district) AND (:since IS NULL OR p.updated_at >= :since)
        ORDER BY p.district_id, p.section_id
    """
    return [(r[0], r[1]) for r in db.execute(sql, {"district": district_id, "since": since}).fetchall()]


def _district(
    client: CleverClient, db_path: str | Path, district_id: str, section_ids: list[str], now: Callable[[], str]
) -> tuple[str, Counter[str], str | None]:
    counts: Counter[str] = Counter()
    try:
        dc = client.district(district_id)
        with connect(db_path) as db:
            for section_id in section_ids:
                counts.update(_section(db, dc, section_id, now))
    except CleverError as exc:
        return district_id, counts, str(exc)
    return district_id, counts, None


def _section(db: sqlite_utils.Database, dc: DistrictClient, section_id: str, now: Callable[[], str]) -> Counter[str]:
    started, before = now(), dc.requests_made
    newest = _newest_pushes(db, dc.district_id, section_id)
    rows: list[dict[str, Any]] = []
    for (assignment_key, assignment_id, deleted), pushes in newest.items():
        lms: dict[str, dict[str, Any]] | None = {}  # never created in Clever: every grade is missing
        if deleted:
            lms = None
        elif assignment_id:
            lms = _read_submissions(dc, section_id, assignment_id)
            if lms is None:
                log.mark_assignment_deleted(db, dc.district_id, section_id, assignment_key)
        for push in pushes:
            found = None if lms is None else lms.get(push["student_id"])
            state = "assignment_gone" if lms is None else verdict(push, found)
            rows.append(_row(push, assignment_id, state, found, started))
    with db.atomic():
        db.execute("DELETE FROM gradebook_rows WHERE district_id = ? AND section_id = ?", [dc.district_id, section_id])
        db.table("gradebook_rows").insert_all(rows)
        db.table("gradebook_sections").upsert(
            {"district_id": dc.district_id, "section_id": section_id, "reconciled_at": started,
             "requests": dc.requests_made - before}, pk=("district_id", "section_id"))  # fmt: skip
        bump_data_version(db)
    return Counter(row["state"] for row in rows)


Assignment = tuple[str, str | None, bool]  # our key, Clever's id, deleted in the LMS


def _newest_pushes(db: sqlite_utils.Database, district_id: str, section_id: str) -> dict[Assignment,
                                                                                            list[dict[str, Any]]]:
    """Our newest grade push per (assignment, student) of the section, grouped by assignment."""
    sql = """
        SELECT p.*, a.assignment_id AS clever_assignment_id, a.deleted_at AS deleted_at FROM pushes p
        LEFT JOIN assignments a ON a.district_id = p.district_id AND a.section_id = p.section_id
             AND a.assignment_key = p.assignment_key
        WHERE p.district_id = ? AND p.section_id = ? AND p.kind = 'submission_update' AND p.state != 'superseded'
          AND p.id = (SELECT q.id FROM pushes q
                      WHERE q.section_id = p.section_id AND q.assignment_key = p.assignment_key
                      AND q.student_id = p.student_id AND q.kind = 'submission_update' AND q.state != 'superseded'
                      ORDER BY q.created_at DESC, q.id DESC LIMIT 1)
        ORDER BY p.assignment_key, p.student_id
    """
    grouped: dict[Assignment, list[dict[str, Any]]] = {}
    for push in db.query(sql, [district_id, section_id]):
        key = (push["assignment_key"], push["clever_assignment_id"], bool(push["deleted_at"]))
        grouped.setdefault(key, []).append(push)
    return grouped


def _read_submissions(dc: DistrictClient, section_id: str, assignment_id: str) -> dict[str, dict[str, Any]] | None:
    """Every submission of the assignment by student; None when Clever says the assignment is gone."""
    try:
        return {str(s.get("user_id")): s for s in dc.iter_submissions(section_id, assignment_id)}
    except NotFound as exc:
        if "assignment" in (exc.message or "").lower():
            return None
        raise


def _row(push: Mapping[str, Any], assignment_id: str | None, state: str, lms: Mapping[str, Any] | None,
         checked_at: str) -> dict[str, Any]:
    payload = json.loads(push["payload"])
    lms = lms or {}
    return {
        "district_id": push["district_id"], "section_id": push["section_id"],
        "assignment_key": push["assignment_key"], "student_id": push["student_id"], "assignment_id": assignment_id,
        "push_id": push["id"], "state": state,
        "our_grade": json.dumps({k: payload.get(k) for k in ("grade", "grade_points")}),
        "lms_grade": lms.get("grade"), "lms_grade_points": lms.get("grade_points"),
        "lms_grader_id": lms.get("grader_id"), "lms_last_modified": lms.get("last_modified"),
        "checked_at": checked_at,
    }
