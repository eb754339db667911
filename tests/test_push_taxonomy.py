"""The failure taxonomy, rule by rule: Clever's status and message plus the cached situation -> category."""

from __future__ import annotations

import pytest

from lmsdata.pushes import Category, Situation, classify

SUB = "submission_update"
CREATE = "assignment_create"
READY = {"lms_state": "success", "lms_type": "canvas", "section_synced": True}

CASES = [
    # (status, message, situation fields, expected)
    (503, "", {"kind": SUB, **READY}, Category.TRANSIENT),
    (429, "", {"kind": SUB, **READY}, Category.TRANSIENT),
    (500, "Internal error", {"kind": SUB, **READY}, Category.TRANSIENT),
    (None, "timed out", {"kind": SUB, **READY}, Category.TRANSIENT),
    (None, "timed out", {"kind": CREATE, **READY}, Category.OUTCOME_UNKNOWN),
    (403, "Could not authorize token", {"kind": SUB, **READY}, Category.TOKEN_REVOKED),
    (401, "No authorization provided", {"kind": CREATE}, Category.TOKEN_REVOKED),
    (400, "LMS Connect is not enabled for this district", {"kind": SUB}, Category.DISTRICT_NOT_READY),
    (400, "LMS Connect is not enabled for this district", {"kind": SUB, "lms_state": "error"},
     Category.DISTRICT_LMS_ERROR),
    (404, "Section not found", {"kind": SUB, "lms_state": "matching_in_progress"}, Category.DISTRICT_NOT_READY),
    (404, "Section not found", {"kind": CREATE, **READY}, Category.SECTION_NOT_SYNCED),
    (404, "User not found", {"kind": SUB, **READY, "student_matched": False, "student_in_section": True},
     Category.STUDENT_NOT_MATCHED),
    (404, "User not found", {"kind": SUB, **READY, "student_matched": True, "student_in_section": False},
     Category.STUDENT_NOT_IN_SECTION),
    (404, "User not found", {"kind": SUB, **READY}, Category.STUDENT_NOT_MATCHED),
    (404, "User not found", {"kind": SUB, "lms_state": "success", "section_synced": False},
     Category.SECTION_NOT_SYNCED),
    (500, "Error updating submission", {"kind": SUB, **READY, "lms_type": "schoology"},
     Category.SCHOOLOGY_NOT_LAUNCHED),
    (500, "Error updating submission", {"kind": SUB, **READY, "lms_type": "canvas"}, Category.TRANSIENT),
    (500, "Error updating submission", {"kind": SUB}, Category.SCHOOLOGY_NOT_LAUNCHED),
    (404, "Assignment does not exist", {"kind": SUB, **READY}, Category.ASSIGNMENT_DELETED),
    (400, "due_date must be in the future", {"kind": CREATE, **READY}, Category.PAYLOAD_INVALID),
    # a stale cache must not turn our own bad payload into a district problem
    (400, "missing required field(s): title", {"kind": CREATE, "lms_state": "pending_authorization"},
     Category.PAYLOAD_INVALID),
    (418, "I'm a teapot", {"kind": SUB, **READY}, Category.UNRECOGNIZED),
]  # fmt: skip


@pytest.mark.parametrize(("status", "message", "situation", "expected"), CASES)
def test_classify(status: int | None, message: str, situation: dict, expected: Category) -> None:
    assert classify(status, message, Situation(**situation)) is expected


def test_every_category_has_an_owner_label_and_next_step() -> None:
    owners = set()
    for category in Category:
        assert category.owner in ("district", "clever_support", "partner", "nobody")
        assert category.label and len(category.next_step) > 40
        assert Category.from_slug(category.slug) is category
        owners.add(category.owner)
    assert owners == {"district", "clever_support", "partner", "nobody"}
    assert Category.TRANSIENT.owner == "nobody"
    assert Category.TOKEN_REVOKED.owner == "district"
    assert Category.PAYLOAD_INVALID.owner == "partner"


def test_unknown_category_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown category 'bogus'; choose one of: transient"):
        Category.from_slug("bogus")
    assert Category.from_slug("student-not-matched") is Category.STUDENT_NOT_MATCHED
