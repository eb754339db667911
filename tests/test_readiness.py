"""The one readiness check, one case per precondition: what the preview shows is what the gate does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lmsdata.pushes.readiness import check
from lmsdata.pushes.taxonomy import Category


@dataclass
class Facts:
    """What the cache (or Clever) says; every precondition holds unless a case changes it."""

    state: str | None = "success"
    restored: bool = True
    synced: bool | None = True
    unsynced_sections: tuple[str, ...] = ()
    matched: bool | None = True
    member: bool | None = True
    assignment: str | None = "a-1"
    creates: dict[str, dict[str, Any]] = field(default_factory=dict)  # section_id → its create push
    held: str | None = None  # a teacher's edit or a suspected duplicate (lmsdata.gradebook.guard)

    def lms_state(self) -> str | None:
        return self.state

    def access_restored(self, push: Mapping[str, Any]) -> bool:
        return self.restored

    def section_synced(self, section_id: str) -> bool | None:
        return False if section_id in self.unsynced_sections else self.synced

    def student_matched(self, student_id: str) -> bool | None:
        return self.matched

    def student_in_section(self, section_id: str, student_id: str) -> bool | None:
        return self.member

    def assignment_id(self, push: Mapping[str, Any]) -> str | None:
        return self.assignment

    def create_push(self, push: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.creates.get(push["section_id"])

    def hold(self, push: Mapping[str, Any]) -> str | None:
        return self.held


GRADE = {"id": 44, "district_id": "d", "section_id": "s", "assignment_key": "quiz", "student_id": "u",
         "kind": "submission_update", "category": "transient", "last_status": 503, "last_message": "busy"}  # fmt: skip
CREATE = {**GRADE, "id": 7, "kind": "assignment_create", "student_id": None, "category": "section_not_synced"}

# (case, facts, push, ready, category, reason part)
CASES: list[tuple[str, Facts, dict[str, Any], bool | None, Category | None, str]] = [
    ("every precondition holds", Facts(), GRADE, True, None, "can be sent now"),
    ("district not connected", Facts(state=None), GRADE, False, Category.DISTRICT_NOT_READY, "not set"),
    ("district matching", Facts(state="matching_in_progress"), GRADE, False, Category.DISTRICT_NOT_READY,
     "'matching_in_progress'"),
    ("district in error", Facts(state="error"), GRADE, False, Category.DISTRICT_LMS_ERROR, "'error'"),
    ("access still refused", Facts(restored=False), {**GRADE, "category": "token_revoked"}, False,
     Category.TOKEN_REVOKED, "refused our access"),
    ("section not synced, whatever the last failure", Facts(synced=False), GRADE, False,
     Category.SECTION_NOT_SYNCED, "section s is still not synced"),
    ("student not matched, whatever the last failure (pushes 44 and 78)", Facts(matched=False), GRADE, False,
     Category.STUDENT_NOT_MATCHED, "student u is still not matched"),
    ("student not in the section", Facts(member=False), GRADE, False, Category.STUDENT_NOT_IN_SECTION,
     "not in section s"),
    ("unknown student after a not-matched failure stays blocked", Facts(matched=None),
     {**GRADE, "category": "student_not_matched"}, False, Category.STUDENT_NOT_MATCHED, "still not matched"),
    ("assignment not created and no create on record", Facts(assignment=None),
     {**GRADE, "category": "assignment_not_created"}, False, Category.ASSIGNMENT_NOT_CREATED,
     "has not been created in Clever yet"),
    ("assignment deleted in the LMS", Facts(assignment=None), {**GRADE, "category": "assignment_deleted"}, False,
     Category.ASSIGNMENT_DELETED, "was deleted in the LMS"),
    ("the payload itself was refused", Facts(), {**CREATE, "category": "payload_invalid", "last_status": 400},
     False, Category.PAYLOAD_INVALID, "would fail the same way"),
    ("a teacher's edit holds the grade, whatever Clever says", Facts(held="a teacher changed this grade"), GRADE,
     False, Category.HELD_FOR_OPERATOR, "a teacher changed this grade"),
    ("a Schoology launch only a retry can tell", Facts(), {**GRADE, "category": "schoology_not_launched"}, None,
     Category.SCHOOLOGY_NOT_LAUNCHED, "only a retry can tell"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "facts", "push", "ready", "category", "part"), CASES, ids=[c[0] for c in CASES])
def test_each_precondition(
    case: str, facts: Facts, push: dict[str, Any], ready: bool | None, category: Category | None, part: str
) -> None:
    verdict = check(push, facts)
    assert (verdict.ready, verdict.category) == (ready, category), verdict.reason
    assert part in verdict.reason
    if category is not None:
        assert (verdict.owner, verdict.next_step) == (category.owner, category.next_step)


def test_a_grade_waiting_on_a_blocked_create_names_it_and_takes_its_owner() -> None:
    """'Assignment not created yet' belongs to whoever unblocks the create (here Clever support)."""
    facts = Facts(assignment=None, creates={"s": {**CREATE, "section_id": "s-c"}}, unsynced_sections=("s-c",))
    waiting = check(GRADE, facts)
    assert (waiting.ready, waiting.waits_on_push, waiting.category) == (False, 7, Category.ASSIGNMENT_NOT_CREATED)
    assert "waits on push #7" in waiting.reason and "section s-c is still not synced" in waiting.reason
    section = Category.SECTION_NOT_SYNCED
    assert (waiting.owner, waiting.next_step) == (section.owner, section.next_step)


def test_a_grade_whose_create_is_ready_still_checks_its_own_student() -> None:
    facts = Facts(assignment=None, creates={"s": CREATE})
    ready_create = check(GRADE, facts)
    assert (ready_create.ready, ready_create.waits_on_push, ready_create.owner) == (False, 7, "partner")
    assert "which is ready: retry both" in ready_create.reason
    unmatched = check(GRADE, Facts(assignment=None, creates={"s": CREATE}, matched=False))
    assert unmatched.category is Category.STUDENT_NOT_MATCHED  # push 78 of the demo


def test_the_bulk_district_snapshot_gives_every_failed_demo_push_the_per_push_verdict(
    tmp_path: Path,
) -> None:
    """`DistrictSnapshot` (the Failed pushes page's bulk reads) and `CacheFacts` (one read per push) agree,
    also where the cache lacks a section's student list or a section's sync flag."""
    from lmsdata.db import connect
    from lmsdata.pushes.readiness import CacheFacts, DistrictSnapshot
    from tests.cache_fixtures import built_demo

    db_path = built_demo(tmp_path / "demo.db")
    with connect(db_path) as db:
        with db.conn:
            sections = [r[0] for r in db.execute("SELECT DISTINCT section_id FROM pushes WHERE state = 'failed'")]
            db.execute("DELETE FROM section_users WHERE section_id = ?", [sections[0]])
            db.execute("UPDATE sections SET synced_in_lms = NULL WHERE id = ?", [sections[-1]])
        pushes = list(db.query("SELECT * FROM pushes WHERE state IN ('failed', 'unknown') ORDER BY id"))
        snapshots: dict[str, DistrictSnapshot] = {}
        verdicts = set()
        for push in pushes:
            snapshot = snapshots.setdefault(push["district_id"], DistrictSnapshot(db, push["district_id"]))
            bulk = check(push, snapshot)
            assert bulk == check(push, CacheFacts(db, push["district_id"])), push["id"]
            verdicts.add((bulk.ready, bulk.category))
    assert len(pushes) > 20 and len(verdicts) >= 3  # ready, blocked and waiting pushes all compared


def test_the_snapshot_given_its_pushes_agrees_with_one_read_per_push_on_held_grades_too(tmp_path: Path) -> None:
    """The Failed pushes page hands each district's pushes to `DistrictSnapshot` (only their students
    are read, and only students with a teacher's edit or a stored suspicion go through the hold)."""
    from lmsdata.db import connect
    from lmsdata.gradebook.identity import refresh_suspects
    from lmsdata.pushes.readiness import CacheFacts, DistrictSnapshot
    from tests.cache_fixtures import built_demo

    db_path = built_demo(tmp_path / "demo.db")
    with connect(db_path) as db:
        pushes = list(db.query("SELECT * FROM pushes ORDER BY id"))
        twin = next(p for p in pushes if p["kind"] == "submission_update"
                    and check(p, CacheFacts(db, p["district_id"])).ready)  # fmt: skip
        with db.conn:  # a second account with the student's SIS id, as a sync would store it
            db.execute("UPDATE users SET sis_id = (SELECT sis_id FROM users WHERE id = ?) WHERE id = "
                       "(SELECT id FROM users WHERE district_id = ? AND id != ? AND role = 'student' LIMIT 1)",
                       [twin["student_id"], twin["district_id"], twin["student_id"]])
            refresh_suspects(db, twin["district_id"])
        by_district: dict[str, list] = {}
        for push in pushes:
            by_district.setdefault(push["district_id"], []).append(push)
        snapshots = {did: DistrictSnapshot(db, did, listed) for did, listed in by_district.items()}
        holds = []
        for push in pushes:
            bulk = check(push, snapshots[push["district_id"]])
            assert bulk == check(push, CacheFacts(db, push["district_id"])), push["id"]
            if bulk.category is Category.HELD_FOR_OPERATOR:
                holds.append(bulk.reason)
    assert any("teacher changed" in r for r in holds) and any("same person" in r for r in holds)
