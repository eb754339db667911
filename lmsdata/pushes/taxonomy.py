"""Why a grade push failed, who can fix it, and what they should do, in plain words.

Clever's grade-passback errors are terse ("User not found", a bare 500 from Schoology), so the
message alone rarely says what to do. `classify` combines the HTTP status and Clever's message
with what the cache knows about the district, section and student at the time of the failure.
It is pure: no IO, so every rule is tested case by case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

OWNERS = ("district", "clever_support", "partner", "nobody")


class Category(enum.Enum):
    """Every way a push can fail. Each member carries its owner, a label and a next step."""

    TRANSIENT = (
        "nobody",
        "Temporary Clever problem",
        "Nothing to do: Clever was busy or briefly failing (rate limit, 5xx, timeout). "
        "These are retried automatically; retry again later if it is still failed.",
    )
    DISTRICT_NOT_READY = (
        "district",
        "District LMS Connect not ready",
        "The district has not finished connecting its LMS to Clever (lms_state is not 'success'). "
        "Ask the district to complete LMS Connect in its Clever dashboard, then retry.",
    )
    DISTRICT_LMS_ERROR = (
        "clever_support",
        "District LMS connection in error",
        "Clever reports an error on this district's LMS connection. Open a ticket with Clever "
        "support for the district; retry once lms_state is back to 'success'.",
    )
    TOKEN_REVOKED = (
        "district",
        "Access revoked",
        "The district disconnected this app, so Clever refuses our token. The district must "
        "re-authorize the app in Clever before any grade can be sent.",
    )
    SECTION_NOT_SYNCED = (
        "clever_support",
        "Section not synced to the LMS",
        "Clever has not matched this section to a course in the district's LMS. Ask the district "
        "to check the course exists in the LMS, and Clever support to match the section; then retry.",
    )
    STUDENT_NOT_MATCHED = (
        "district",
        "Student not matched in the LMS",
        "Clever has not matched this student to an LMS account (often a different e-mail or SIS id "
        "in the LMS). Send the student's name and id to the district, who fixes it with Clever "
        "support; then retry.",
    )
    STUDENT_NOT_IN_SECTION = (
        "district",
        "Student not in this section",
        "The student is not enrolled in this section any more (dropped or moved). Check the roster "
        "with the district; if the student left, no grade is needed.",
    )
    SCHOOLOGY_NOT_LAUNCHED = (
        "district",
        "Student has not opened the app in Schoology",
        "Schoology only accepts a grade after the student has opened the app once from Schoology. "
        "Ask the teacher (through the district) to have the student launch it, then retry.",
    )
    ASSIGNMENT_DELETED = (
        "partner",
        "Assignment deleted in the LMS",
        "A teacher deleted this assignment in the LMS. If it is still wanted, create it again from "
        "the app (a new assignment create), then retry the grades.",
    )
    ASSIGNMENT_NOT_CREATED = (
        "partner",
        "Assignment not created yet",
        "This grade's assignment does not exist in Clever yet because its create failed. "
        "Retry the assignment create; the grade follows it.",
    )
    PAYLOAD_INVALID = (
        "partner",
        "Our request was invalid",
        "Clever rejected the data we sent (HTTP 400). The partner's engineers must fix the payload; "
        "retrying the same data fails again.",
    )
    OUTCOME_UNKNOWN = (
        "partner",
        "Outcome unknown: may have been created",
        "The assignment create timed out, so it may exist in the LMS. Check the section's gradebook: "
        "if it is there, record its id ('lmsdata pushes resolve ID --assignment-id UUID'); "
        "if not, mark it not created ('lmsdata pushes resolve ID --not-created') and retry.",
    )
    HELD_FOR_OPERATOR = (
        "partner",
        "Held for an operator",
        "Not sent, so nothing is overwritten by mistake: a teacher changed this grade in the LMS, or the "
        "student may be the same person as another account. On the Gradebook page, choose 'overwrite "
        "anyway' or confirm the identity (audited), then retry.",
    )
    UNRECOGNIZED = (
        "partner",
        "Unrecognized error",
        "Clever answered with an error this tool does not know. Send the attempt details "
        "(status and message) to the partner's engineers.",
    )

    def __init__(self, owner: str, label: str, next_step: str) -> None:
        self.owner = owner
        self.label = label
        self.next_step = next_step

    @property
    def slug(self) -> str:
        """The name stored in `pushes.category` and accepted by `--category`."""
        return self.name.lower()

    @classmethod
    def from_slug(cls, slug: str) -> Category:
        try:
            return cls[slug.strip().upper().replace("-", "_")]
        except KeyError:
            known = ", ".join(c.slug for c in cls)
            raise ValueError(f"unknown category {slug!r}; choose one of: {known}") from None


@dataclass(frozen=True)
class Situation:
    """What the cache (or a fresh look at Clever) says about the push's district, section and student.

    `None` means unknown: the cache has not seen it or Clever does not report it.
    """

    kind: str                           # assignment_create | assignment_update | submission_update
    lms_state: str | None = None
    lms_type: str | None = None
    section_synced: bool | None = None
    student_matched: bool | None = None
    student_in_section: bool | None = None


def classify(
    status: int | None,
    message: str | None,
    situation: Situation,
    *,
    outcome_unknown: bool = False,
) -> Category:
    """Map one failed attempt to its category. `status` is None for a timeout or dropped connection."""
    text = (message or "").strip().lower()
    if status is None or outcome_unknown:
        if situation.kind == "assignment_create":
            return Category.OUTCOME_UNKNOWN
        return Category.TRANSIENT
    if status in (401, 403):
        return Category.TOKEN_REVOKED
    if status == 429 or status in (502, 503, 504):
        return Category.TRANSIENT
    if status == 500:
        # Clever documents this bare 500 only for Schoology; with the LMS unknown, it is still the best guess.
        if "error updating submission" in text and situation.lms_type in ("schoology", None):
            return Category.SCHOOLOGY_NOT_LAUNCHED
        return Category.TRANSIENT
    if "lms connect is not enabled" in text:
        return _district_state(situation.lms_state) or Category.DISTRICT_NOT_READY
    if status == 400:
        return Category.PAYLOAD_INVALID
    blocked = _district_state(situation.lms_state)
    if blocked is not None:
        return blocked
    if status == 404:
        return _not_found(text, situation)
    return Category.UNRECOGNIZED


def _district_state(lms_state: str | None) -> Category | None:
    """A district whose LMS connection is not 'success' cannot take any grade."""
    if lms_state is None or lms_state == "success":
        return None
    if lms_state == "error":
        return Category.DISTRICT_LMS_ERROR
    return Category.DISTRICT_NOT_READY


def _not_found(text: str, situation: Situation) -> Category:
    if "assignment does not exist" in text:
        return Category.ASSIGNMENT_DELETED
    if "section" in text or situation.section_synced is False:
        return Category.SECTION_NOT_SYNCED
    if "user not found" in text:
        if situation.student_in_section is False:
            return Category.STUDENT_NOT_IN_SECTION
        return Category.STUDENT_NOT_MATCHED
    return Category.UNRECOGNIZED
