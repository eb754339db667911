"""A realistic push history for the embedded demo: a partner app creating assignments and pushing
grades to the sandbox over the past days, with the failures that really happen, then a few sandbox
changes (a student gets matched, a section syncs, a Schoology student launches) so that some
failed pushes become retryable, exactly as support staff would find them in the morning.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lmsdata.client import CleverClient
from lmsdata.db import connect
from lmsdata.pushes.pusher import GradePusher
from lmsdata.pushes.sender import SendPolicy

RARE_FAILURES = ("deleted_assignment", "transient", "past_due_date", "bad_grader")
# Ready districts take the rare failures in turn; every fifth one has a clean week (grades only to
# matched students, who launched the app, in synced sections), so the demo also shows a healthy district.
CLEAN_WEEK = "clean"
SUBJECTS = ("Fractions Quiz", "Reading Log", "Lab Report", "Unit Test", "Essay Draft", "Homework Set")


@dataclass(frozen=True)
class _Op:
    at: datetime
    order: int
    action: str                         # create | grade | delete | inject
    district_id: str
    section_id: str
    key: str
    student_id: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoTraffic:
    pushes: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    made_retryable: list[str] = field(default_factory=list)


def _students(section: dict[str, Any]) -> list[str]:
    return [str(s) for s in section.get("students") or []]


def _synced(obj: dict[str, Any] | None) -> bool | None:
    status = (obj or {}).get("lms_status")
    return None if not isinstance(status, dict) else bool(status.get("synced_in_lms"))


def generate_demo_traffic(
    client: CleverClient,
    sandbox: Any,
    db_path: str | Path,
    *,
    seed: int = 7,
    days: int = 6,
    students_per_section: int = 14,
    now: datetime | None = None,
) -> DemoTraffic:
    """Push a few days of assignments and grades to `sandbox` through the real client and log them."""
    rng = random.Random(f"demo-traffic:{seed}")
    end = (now or datetime.now(UTC)) - timedelta(hours=1)
    start = end - timedelta(days=days)
    ops: list[_Op] = []
    ready_seen = 0
    for district_id in sandbox.district_ids():
        ready = sandbox.district(district_id).get("lms_state") == "success"
        # One rare failure per ready district, in turn, so each shows up without drowning the rest.
        turns = (*RARE_FAILURES, CLEAN_WEEK)
        rare = turns[ready_seen % len(turns)] if ready else None
        ready_seen += ready
        ops.extend(_district_ops(sandbox, district_id, rng, start, end, rare, students_per_section))
    ops.sort(key=lambda op: (op.at, op.order))

    moment = [start]
    pusher = GradePusher(
        client, db_path, policy=SendPolicy(auto_retries=2), sleep=lambda s: None,
        clock=lambda: moment[0], source="demo", rng=rng,
    )  # fmt: skip
    created: dict[tuple[str, str], str] = {}
    with pusher:
        for op in ops:
            moment[0] = op.at
            _run(op, pusher, sandbox, created)
    traffic = DemoTraffic()
    traffic.made_retryable = _unblock_some(sandbox, db_path, rng)
    with connect(db_path) as db:
        for state, category, count in db.execute(
            "SELECT state, COALESCE(category, ''), COUNT(*) FROM pushes WHERE source = 'demo' GROUP BY 1, 2"
        ).fetchall():
            traffic.by_state[state] += count
            if category:
                traffic.by_category[category] += count
            traffic.pushes += count
    return traffic


def _district_ops(
    sandbox: Any, district_id: str, rng: random.Random, start: datetime, end: datetime,
    rare: str | None, students_per_section: int,
) -> list[_Op]:  # fmt: skip
    """One district's week: assignments in a few sections, then grades over the following days.

    A district that is not ready only gets an assignment create (it fails); a ready one gets two
    ordinary sections, an unsynced section when it has one, and its `rare` failure.
    """
    sections = [s for s in sandbox.sections(district_id) if _students(s)]
    if not sections:
        return []
    rng.shuffle(sections)
    if rare is None:
        return [_create(district_id, sections[0], "unit-test-1", rng, start, end)]
    unsynced = [] if rare == CLEAN_WEEK else [s for s in sections if _synced(s) is False][:1]
    ordinary = [s for s in sections if _synced(s)][:2]
    ops: list[_Op] = []
    for number, section in enumerate(ordinary + unsynced):
        key = f"{rng.choice(SUBJECTS).lower().replace(' ', '-')}-{number + 1}"
        create = _create(district_id, section, key, rng, start, end)
        ops.append(create)
        students = _students(section)
        if rare == CLEAN_WEEK:
            students = [s for s in students if _synced(sandbox.user(s)) is not False and sandbox.has_launched(s)]
        graded = students[: students_per_section if section in ordinary else 5]
        grades = list(_grades(create, graded, rng, (end - start).total_seconds()))
        if number == 0 and rare == "deleted_assignment":  # a teacher deletes it before the grades go out
            ops.append(_Op(create.at + timedelta(minutes=30), 1, "delete", district_id, section["id"], key))
            grades = grades[:4]
        if number == 0 and rare == "transient":  # Clever has a bad minute while one grade goes out
            ops.append(_Op(grades[0].at - timedelta(seconds=1), 1, "inject", district_id, section["id"], key))
        if number == 0 and rare == "bad_grader":  # a partner bug: a grader id Clever does not know
            grades[0] = _Op(grades[0].at, 2, "grade", district_id, section["id"], key, grades[0].student_id,
                            {**grades[0].body, "grader_id": "000000000000000000000000"})
        ops.extend(grades)
    if rare == "past_due_date":  # a partner bug: a create with a due date already past
        late = _create(district_id, ordinary[0] if ordinary else sections[0], "late-quiz", rng, start, end)
        ops.append(_Op(late.at, 0, "create", district_id, late.section_id, late.key,
                       body={**late.body, "due_date": _stamp(start - timedelta(days=1))}))
    return ops


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _create(
    district_id: str, section: dict[str, Any], key: str, rng: random.Random, start: datetime, end: datetime
) -> _Op:
    at = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds() * 0.4))
    body = {
        "title": key.replace("-", " ").title(), "description": "<p>Complete every question.</p>",
        "due_date": _stamp(end + timedelta(days=rng.randint(3, 14))), "assignee_mode": "all",
        "points_possible": 20, "grading_type": "points", "submission_types": ["link"], "max_attempts": 1,
    }  # fmt: skip
    return _Op(at, 0, "create", district_id, section["id"], key, body=body)


def _grades(create: _Op, students: list[str], rng: random.Random, span: float) -> list[_Op]:
    """One grade per student some hours after the create; a few re-graded later (a newer payload)."""
    ops = []
    for student_id in students:
        at = create.at + timedelta(seconds=rng.uniform(3600, max(span * 0.5, 7200)))
        points = rng.randint(9, 20)
        grade = {"grade_points": points, "state": "returned", "grade_comment": rng.choice(("", "Nice work"))}
        ops.append(_Op(at, 2, "grade", create.district_id, create.section_id, create.key, student_id, grade))
        if rng.random() < 0.15:
            regrade = {**grade, "grade_points": min(points + 2, 20), "grade_comment": "Regraded"}
            later = at + timedelta(hours=rng.uniform(2, 30))
            ops.append(_Op(later, 3, "grade", create.district_id, create.section_id, create.key, student_id, regrade))
    ops.sort(key=lambda op: op.at)
    return ops


def _run(op: _Op, pusher: GradePusher, sandbox: Any, created: dict[tuple[str, str], str]) -> None:
    if op.action == "create":
        outcome = pusher.create_assignment(op.district_id, op.section_id, op.key, op.body)
        if outcome.assignment_id:
            created[(op.section_id, op.key)] = outcome.assignment_id
    elif op.action == "grade":
        pusher.push_grade(op.district_id, op.section_id, op.key, op.student_id or "", op.body)
    elif op.action == "delete" and (op.section_id, op.key) in created:
        sandbox.delete_assignment_in_lms(created[(op.section_id, op.key)])
    elif op.action == "inject":
        # More 503s in a row than the automatic retries absorb: one grade stays failed as transient.
        sandbox.inject(f"/sections/{op.section_id}/assignments/", status=503, count=pusher.policy.auto_retries + 1)


def _unblock_some(sandbox: Any, db_path: str | Path, rng: random.Random) -> list[str]:
    """Fix a few blockers in the sandbox, as districts and Clever support do, so retries can succeed."""
    with connect(db_path) as db:
        rows = {
            category: [tuple(r) for r in db.execute(
                "SELECT DISTINCT section_id, student_id FROM pushes WHERE source = 'demo' AND state = 'failed' "
                "AND category = ? ORDER BY section_id, student_id", [category]).fetchall()]
            for category in ("student_not_matched", "section_not_synced", "schoology_not_launched")
        }  # fmt: skip
    changed: list[str] = []
    unmatched = rows["student_not_matched"]
    for _, student_id in rng.sample(unmatched, k=min(3, len(unmatched))):
        sandbox.set_user_matched(student_id, True)
        changed.append(f"student {student_id} matched")
    for section_id, _ in rows["section_not_synced"][:1]:
        sandbox.set_section_synced(section_id, True)
        changed.append(f"section {section_id} synced")
    for _, student_id in rows["schoology_not_launched"][:2]:
        sandbox.mark_launched(student_id)
        changed.append(f"student {student_id} launched the app in Schoology")
    return changed
