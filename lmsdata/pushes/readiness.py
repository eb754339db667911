"""Can this push succeed now? ONE check over every precondition, fed from the cache or from Clever.

The "looks ready" preview (`CacheFacts`, no request) and the retry gate (`FreshFacts`, fresh from
Clever) run the same `check`, so a push the dashboard calls ready is not then refused by the retry
for a condition the cache already showed. Preconditions, in order: the district's lms_state, our
access, the assignment created in Clever (a grade waits on its create push, and takes that push's
blocker, owner and next step), the section synced in the LMS, the student matched and in the
section, and the payload itself. A Schoology launch cannot be seen: such pushes are `ready=None`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import sqlite_utils

from lmsdata.gradebook.guard import hold_reason
from lmsdata.models import synced_in_lms
from lmsdata.pushes import log
from lmsdata.pushes.situation import FreshLook
from lmsdata.pushes.taxonomy import Category


@dataclass(frozen=True)
class Readiness:
    """The verdict on one push: `ready` True (send it), False (blocked) or None (only trying tells)."""

    ready: bool | None
    reason: str
    owner: str  # district | clever_support | partner | nobody (health.OWNERS)
    next_step: str
    category: Category | None = None  # the blocking condition's category
    waits_on_push: int | None = None  # the push (an assignment create) this one waits on


class Facts(Protocol):
    """What `check` needs to know; None means the source cannot tell."""

    def lms_state(self) -> str | None: ...
    def access_restored(self, push: Mapping[str, Any]) -> bool: ...
    def section_synced(self, section_id: str) -> bool | None: ...
    def student_matched(self, student_id: str) -> bool | None: ...
    def student_in_section(self, section_id: str, student_id: str) -> bool | None: ...
    def assignment_id(self, push: Mapping[str, Any]) -> str | None: ...
    def create_push(self, push: Mapping[str, Any]) -> dict[str, Any] | None: ...
    def hold(self, push: Mapping[str, Any]) -> str | None: ...


def check(push: Mapping[str, Any], facts: Facts) -> Readiness:
    """Every precondition of `push`, most basic first; the first that fails is the verdict."""
    state = facts.lms_state()
    if state != "success":
        category = Category.DISTRICT_LMS_ERROR if state == "error" else Category.DISTRICT_NOT_READY
        shown = repr(state) if state else "not set"
        return _blocked(category, f"the district's lms_state is still {shown} (needs 'success')")
    last = _category(push)
    if last is Category.TOKEN_REVOKED and not facts.access_restored(push):
        return _blocked(last, "Clever refused our access to the district and no pull has worked since")
    needs_assignment = push["kind"] != "assignment_create" and not facts.assignment_id(push)
    waiting = _waiting(push, facts, last) if needs_assignment else None
    if waiting is not None and waiting.owner != _WAITS_ON_READY:  # its create is blocked: so is this push
        return waiting
    section_id = push["section_id"]
    synced = facts.section_synced(section_id)
    if synced is False or (synced is None and last is Category.SECTION_NOT_SYNCED):
        return _blocked(Category.SECTION_NOT_SYNCED, f"section {section_id} is still not synced in the LMS")
    student_id = push.get("student_id")
    if student_id:
        matched = facts.student_matched(student_id)
        if matched is False or (matched is None and last is Category.STUDENT_NOT_MATCHED):
            return _blocked(Category.STUDENT_NOT_MATCHED, f"student {student_id} is still not matched in the LMS")
        member = facts.student_in_section(section_id, student_id)
        if member is False or (member is None and last is Category.STUDENT_NOT_IN_SECTION):
            return _blocked(Category.STUDENT_NOT_IN_SECTION, f"student {student_id} is not in section {section_id}")
    held = facts.hold(push)
    if held is not None:
        return _blocked(Category.HELD_FOR_OPERATOR, held)
    if last is Category.PAYLOAD_INVALID:
        return _blocked(
            last,
            f"Clever rejected exactly this payload ({push.get('last_status')}: {push.get('last_message')!r}); "
            "sending it again would fail the same way",
        )
    if last in (Category.SCHOOLOGY_NOT_LAUNCHED, Category.UNRECOGNIZED):
        return Readiness(None, f"only a retry can tell: {last.label.lower()}", last.owner, last.next_step, last)
    if waiting is not None:
        return replace(waiting, owner="partner")
    return Readiness(True, "can be sent now", "partner", "Retry it.")


_WAITS_ON_READY = "waits_on_ready"


def _waiting(push: Mapping[str, Any], facts: Facts, last: Category | None) -> Readiness | None:
    """A grade or update waits on its assignment: on the create push, whose blocker it inherits.

    When the create itself is ready, the verdict's owner is `_WAITS_ON_READY` until `check` has
    looked at the push's own preconditions. None when nothing on record says the assignment is
    missing (no create push of ours and no such failure: it may have been created elsewhere).
    """
    key = push["assignment_key"]
    deleted = last is Category.ASSIGNMENT_DELETED
    create = facts.create_push(push)
    if create is None and not deleted and last is not Category.ASSIGNMENT_NOT_CREATED:
        return None
    if deleted or create is None:
        category = Category.ASSIGNMENT_DELETED if deleted else Category.ASSIGNMENT_NOT_CREATED
        what = "was deleted in the LMS and not created again" if deleted else "has not been created in Clever yet"
        return _blocked(category, f"assignment {key!r} {what}")
    blocker = check(create, facts)
    because = f"assignment {key!r} has not been created in Clever yet: it waits on push #{create['id']}"
    if blocker.ready:  # `check` goes on with this push's own preconditions first
        return Readiness(False, because + ", which is ready: retry both", _WAITS_ON_READY,
                         f"Retry push #{create['id']} with this one.", Category.ASSIGNMENT_NOT_CREATED,
                         create["id"])  # fmt: skip
    return Readiness(False, f"{because} ({blocker.reason})", blocker.owner, blocker.next_step,
                     Category.ASSIGNMENT_NOT_CREATED, create["id"])  # fmt: skip


def _blocked(category: Category, reason: str) -> Readiness:
    return Readiness(False, reason, category.owner, category.next_step, category)


def _category(push: Mapping[str, Any]) -> Category | None:
    try:
        return Category.from_slug(push["category"]) if push.get("category") else None
    except ValueError:
        return None


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


class CacheFacts:
    """Facts from the cache alone, for the preview (one district's or every district's pushes)."""

    def __init__(self, db: sqlite_utils.Database, district_id: str) -> None:
        self.db = db
        self.district_id = district_id
        row = db.execute(
            "SELECT lms_state, last_sync_error, last_pulled_at FROM districts WHERE id = ?", [district_id]
        ).fetchone()
        self._district = row or (None, None, None)

    def lms_state(self) -> str | None:
        return self._district[0]

    def access_restored(self, push: Mapping[str, Any]) -> bool:
        _, error, pulled_at = self._district
        return error is None and bool(pulled_at) and str(pulled_at) > str(push.get("updated_at") or "")

    def section_synced(self, section_id: str) -> bool | None:
        row = self.db.execute("SELECT synced_in_lms FROM sections WHERE id = ?", [section_id]).fetchone()
        return _flag(row[0]) if row else None

    def student_matched(self, student_id: str) -> bool | None:
        row = self.db.execute("SELECT synced_in_lms FROM users WHERE id = ?", [student_id]).fetchone()
        return _flag(row[0]) if row else None

    def student_in_section(self, section_id: str, student_id: str) -> bool | None:
        """None unless the cache holds the section's student list."""
        rows = self.db.execute(
            "SELECT MAX(user_id = ?), COUNT(*) FROM section_users WHERE section_id = ? AND role = 'student'",
            [student_id, section_id],
        ).fetchone()
        return bool(rows[0]) if rows and rows[1] else None

    def hold(self, push: Mapping[str, Any]) -> str | None:
        """A teacher's edit or a suspected duplicate student (lmsdata.gradebook.guard), from the cache."""
        held = hold_reason(self.db, push)
        return held.reason if held else None

    def assignment_id(self, push: Mapping[str, Any]) -> str | None:
        return log.live_assignment_id(self.db, push["district_id"], push["section_id"], push["assignment_key"])

    def create_push(self, push: Mapping[str, Any]) -> dict[str, Any] | None:
        """The newest create push of the push's assignment that has not gone through."""
        rows = list(
            self.db.query(
                "SELECT * FROM pushes WHERE district_id = ? AND section_id = ? AND assignment_key = ? "
                "AND kind = 'assignment_create' AND state != 'sent' ORDER BY created_at DESC, id DESC LIMIT 1",
                [push["district_id"], push["section_id"], push["assignment_key"]],
            )
        )
        return rows[0] if rows else None


class DistrictSnapshot(CacheFacts):
    """The same cache-only facts as `CacheFacts`, read in one query per table for the whole district,
    for a list of many pushes (the Failed pushes page checks every failed push on each cold load)."""

    def __init__(self, db: sqlite_utils.Database, district_id: str,
                 pushes: Sequence[Mapping[str, Any]] | None = None) -> None:
        """`pushes`: the district's pushes to be checked, when known; then only their students are read."""
        super().__init__(db, district_id)
        self._named = None if pushes is None else sorted({str(p["student_id"]) for p in pushes if p.get("student_id")})
        self._sections: dict[str, bool | None] | None = None
        self._students: dict[str, bool | None] | None = None
        self._members: dict[str, set[str]] | None = None
        self._assignments: dict[tuple[str, str], str | None] | None = None
        self._creates: dict[tuple[str, str], dict[str, Any]] | None = None
        self._holdable: set[str] | None = None
        self._pulled = db.execute("SELECT 1 FROM districts WHERE id = ?", [district_id]).fetchone() is not None

    def _flags(self, sql: str) -> dict[str, bool | None]:
        return {row[0]: _flag(row[1]) for row in self.db.execute(sql, [self.district_id]).fetchall()}

    def _district_sections(self) -> dict[str, bool | None]:
        if self._sections is None:
            self._sections = self._flags("SELECT id, synced_in_lms FROM sections WHERE district_id = ?")
        return self._sections

    def section_synced(self, section_id: str) -> bool | None:
        return self._district_sections().get(section_id)

    def hold(self, push: Mapping[str, Any]) -> str | None:
        """Only a push to a student with a teacher's edit or a stored suspicion can be held: the district's
        few such rows are read once, and only those pushes go through `hold_reason` for the reason."""
        if push["district_id"] != self.district_id or not self._pulled:
            return super().hold(push)
        if self._holdable is None:
            edited = self.db.execute(
                "SELECT student_id FROM gradebook_rows WHERE district_id = ? AND state = 'override'", [self.district_id]
            ).fetchall()
            suspects = self.db.execute(
                "SELECT user_id FROM identity_suspects WHERE district_id = ?", [self.district_id]
            ).fetchall()
            self._holdable = {row[0] for row in edited} | {row[0] for row in suspects}
        return super().hold(push) if push.get("student_id") in self._holdable else None

    def student_matched(self, student_id: str) -> bool | None:
        if self._students is None and self._named is not None:  # the students of the pushes being checked
            self._students = {row[0]: _flag(row[1]) for row in self.db.execute(
                "SELECT id, synced_in_lms FROM users WHERE id IN (SELECT value FROM json_each(?))",
                [json.dumps(self._named)]).fetchall()}  # fmt: skip
        if self._students is None:
            self._students = self._flags(  # only the students this district's pushes name
                "SELECT id, synced_in_lms FROM users WHERE id IN (SELECT student_id FROM pushes WHERE district_id = ?)"
            )
        if student_id not in self._students:  # a user filed under another role or district: ask directly
            return super().student_matched(student_id)
        return self._students[student_id]

    def student_in_section(self, section_id: str, student_id: str) -> bool | None:
        if self._members is None:
            self._members = {}
            rows = self.db.execute(
                "SELECT su.section_id, su.user_id FROM section_users su JOIN sections s ON s.id = su.section_id "
                "WHERE s.district_id = ? AND su.role = 'student'", [self.district_id]
            ).fetchall()
            for section, user in rows:
                self._members.setdefault(section, set()).add(user)
        if section_id not in self._members:
            if section_id in self._district_sections():  # a section of the district without a student list
                return None
            return super().student_in_section(section_id, student_id)  # perhaps a section of another district
        return student_id in self._members[section_id]

    def assignment_id(self, push: Mapping[str, Any]) -> str | None:
        if push["district_id"] != self.district_id:
            return super().assignment_id(push)
        if self._assignments is None:
            self._assignments = {
                (section, key): (str(found) if found and not deleted else None)
                for section, key, found, deleted in self.db.execute(
                    "SELECT section_id, assignment_key, assignment_id, deleted_at FROM assignments "
                    "WHERE district_id = ?", [self.district_id]
                ).fetchall()
            }
        return self._assignments.get((push["section_id"], push["assignment_key"]))

    def create_push(self, push: Mapping[str, Any]) -> dict[str, Any] | None:
        if push["district_id"] != self.district_id:
            return super().create_push(push)
        if self._creates is None:
            self._creates = {}
            for row in self.db.query(
                "SELECT * FROM pushes WHERE district_id = ? AND kind = 'assignment_create' AND state != 'sent' "
                "ORDER BY created_at DESC, id DESC", [self.district_id]
            ):
                self._creates.setdefault((row["section_id"], row["assignment_key"]), row)
        return self._creates.get((push["section_id"], push["assignment_key"]))


class FreshFacts(CacheFacts):
    """Facts fresh from Clever (through `FreshLook`, which also refreshes the cache rows it reads)."""

    def __init__(self, db: sqlite_utils.Database, look: FreshLook, district_id: str) -> None:
        super().__init__(db, district_id)
        self.look = look

    def lms_state(self) -> str | None:
        return self.look.district().get("lms_state")  # raises TokenRevoked when Clever refuses us

    def access_restored(self, push: Mapping[str, Any]) -> bool:
        self.look.district()
        return True

    def section_synced(self, section_id: str) -> bool | None:
        section = self.look.section(section_id)
        return False if section is None else _flag(synced_in_lms(section))

    def student_matched(self, student_id: str) -> bool | None:
        user = self.look.user(student_id)
        return False if user is None else _flag(synced_in_lms(user))

    def student_in_section(self, section_id: str, student_id: str) -> bool | None:
        section = self.look.section(section_id)
        students = section.get("students") if section else None
        return student_id in students if isinstance(students, list) else None


def preview(db: sqlite_utils.Database, push: Mapping[str, Any]) -> Readiness:
    """The cache-only verdict on one push: what the dashboard shows as "looks ready" or blocked."""
    return check(push, CacheFacts(db, push["district_id"]))
