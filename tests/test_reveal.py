"""Student details are masked by default; every reveal is allowed by role and audited with the actor;
each person sees only their own audit entries unless they are an admin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmsdata import audit
from lmsdata.access import AccessDenied, Principal, Role
from lmsdata.db import connect, data_version
from lmsdata.masking import mask_email, mask_json_fields, mask_name, mask_payload, mask_sis_id
from lmsdata.reveal import reveal_all, reveal_student

VIEWER = Principal("lee@district-support.example", Role.VIEWER)
OPERATOR = Principal("ana@partner.example", Role.OPERATOR)
ADMIN = Principal("boss@partner.example", Role.ADMIN)


@pytest.fixture
def cache(db_path: Path) -> Path:
    with connect(db_path) as db:
        db["users"].insert({"id": "u1", "district_id": "d1", "role": "student", "first_name": "Ada",
                            "last_name": "Lovelace", "email": "ada.lovelace@school.org", "sis_id": "20931847"})
    return db_path


@pytest.mark.parametrize(
    ("mask", "value", "shown"),
    [
        (mask_name, "Ada Lovelace", "A. L."),
        (mask_name, None, ""),
        (mask_email, "ada.lovelace@school.org", "a•••@school.org"),
        (mask_email, "no-at-sign", "•••"),
        (mask_sis_id, "20931847", "•••847"),
        (mask_sis_id, "1234", "•••"),
        (mask_sis_id, "", ""),
    ],
)
def test_masks_keep_enough_to_tell_rows_apart_and_no_more(mask, value, shown) -> None:  # type: ignore[no-untyped-def]
    assert mask(value) == shown


def test_payload_masking_hides_the_student_wherever_they_appear_as_whole_words() -> None:
    payload = {"grade_comment": "Great work, Ada! Adaptive reasoning. Lovelace 20931847",
               "grade_points": 15, "notes": ["ada.lovelace@school.org", "Ada Lovelace"]}  # fmt: skip
    masked = mask_payload(payload, name="Ada Lovelace", email="ada.lovelace@school.org", sis_id="20931847")
    assert masked == {"grade_comment": "Great work, A.! Adaptive reasoning. L. •••847", "grade_points": 15,
                      "notes": ["a•••@school.org", "A. L."]}  # fmt: skip
    assert mask_payload(payload) == payload


def test_previous_attributes_of_a_user_event_are_masked_field_by_field() -> None:
    before = '{"email": "ada.lovelace@school.org", "name": {"first": "Ada", "last": "Lovelace"}, "sis_id": "20931847"}'
    assert json.loads(mask_json_fields(before)) == {"email": "a•••@school.org", "name": {"first": "A.", "last": "L."},
                                                    "sis_id": "•••847"}  # fmt: skip
    assert mask_json_fields('{"lms_status": {"synced_in_lms": false}}') == '{"lms_status": {"synced_in_lms": false}}'
    assert mask_json_fields(None) is None and mask_json_fields("not json") == "not json"


def test_a_reveal_returns_the_details_and_is_audited_with_the_actor(cache: Path) -> None:
    with connect(cache) as db:
        version = data_version(db)
    shown = reveal_student(cache, VIEWER, "u1", reason="push 42")
    assert (shown["name"], shown["email"], shown["sis_id"]) == ("Ada Lovelace", "ada.lovelace@school.org", "20931847")
    with connect(cache) as db:
        [row] = audit.entries(db)
        assert data_version(db) > version  # the audit page shows it at once
    assert (row["actor"], row["action"], row["target"], row["outcome"]) == (VIEWER.email, "reveal", "user:u1", "ok")
    assert json.loads(row["params"]) == {"what": "name, e-mail and SIS id", "reason": "push 42", "district_id": "d1"}


def test_revealing_an_unknown_user_says_so_and_records_no_look(cache: Path) -> None:
    with pytest.raises(LookupError, match="no user 'u404' in the cache"):
        reveal_student(cache, "cli:pat", "u404")
    with connect(cache) as db:
        assert audit.entries(db) == []


def test_only_admins_reveal_in_bulk_and_refusals_are_audited(cache: Path) -> None:
    for person in (VIEWER, OPERATOR):
        with pytest.raises(AccessDenied, match="may not reveal student data in bulk; ask an admin for the admin role"):
            reveal_all(cache, person, "unmatched users, district d1")
    entry = reveal_all(cache, ADMIN, "unmatched users, district d1")
    with connect(cache) as db:
        rows = [(r["id"], r["actor"], r["action"], r["outcome"]) for r in reversed(audit.entries(db))]
    assert rows == [
        (1, VIEWER.email, "reveal_all", "refused"),
        (2, OPERATOR.email, "reveal_all", "refused"),
        (entry, ADMIN.email, "reveal_all", "ok"),
    ]


def test_people_see_their_own_audit_entries_and_admins_everyones(cache: Path) -> None:
    with connect(cache) as db, db.conn:
        for actor in (VIEWER.email, OPERATOR.email, ADMIN.email, "cli:pat", OPERATOR.email):
            audit.record(db, actor=actor, action="retry", target="d1", outcome="ok")

        def actors(**kwargs: object) -> list[str]:
            return [r["actor"] for r in audit.entries(db, **kwargs)]  # type: ignore[arg-type]

        assert actors(viewer=OPERATOR) == [OPERATOR.email, OPERATOR.email]
        assert actors(viewer=VIEWER) == [VIEWER.email]
        assert actors(viewer=VIEWER, actor=OPERATOR.email) == []  # asking for someone else's shows nothing
        assert len(actors(viewer=ADMIN)) == 5
        assert actors(viewer=ADMIN, actor="cli:pat") == ["cli:pat"]
        assert len(actors(viewer="cli:pat")) == 5  # the CLI reads the whole log, as it can read the file
