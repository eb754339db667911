"""Tolerant parsing: Clever's objects change over time and some shapes are undocumented."""

from __future__ import annotations

import pytest

from lmsdata import models


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"students": 97.5, "teachers": 100, "sections": 88.2}, (97.5, 100.0, 88.2)),
        ({"students": 0.975, "teachers": 1, "sections": 0.5}, (97.5, 100.0, 50.0)),
        ({"student": "80%", "teacher": None}, (80.0, None, None)),
        ({"students": 0, "teachers": 0, "sections": 0}, (0.0, 0.0, 0.0)),
        ({"students": 1, "teachers": 1, "sections": 1}, (1.0, 1.0, 1.0)),
        (None, (None, None, None)),
        ("n/a", (None, None, None)),
        ({"students": "abc", "teachers": True}, (None, None, None)),
    ],
)
def test_matched_percentages_accept_every_shape(value: object, expected: tuple) -> None:
    assert models.matched_percentages(value) == expected


def test_district_keeps_unknown_lms_values_and_tolerates_nulls() -> None:
    row = dict(zip(models.DISTRICT_COLUMNS, models.district_row({
        "id": "d1", "name": None, "lms_type": "moodle", "lms_state": "brand_new_state",
        "district_contact": {"name": {"first": "Pat", "middle": None, "last": "Lee"}, "email": "pat@x"},
        "future_field": {"x": 1},
    }), strict=True))
    assert row["name"] == "d1" and row["lms_type"] == "moodle" and row["lms_state"] == "brand_new_state"
    assert row["contact_name"] == "Pat Lee" and row["contact_email"] == "pat@x" and row["last_lms_sync"] is None


def test_user_role_and_lms_status() -> None:
    teacher = models.user_row({"id": "u1", "roles": {"teacher": {"sis_id": "T1", "schools": ["s1"]}},
                               "lms_status": {"synced_in_lms": False}}, "d1")
    row = dict(zip(models.USER_COLUMNS, teacher, strict=True))
    assert (row["role"], row["sis_id"], row["school_id"], row["synced_in_lms"]) == ("teacher", "T1", "s1", 0)
    odd = dict(zip(models.USER_COLUMNS, models.user_row({"id": "u2", "roles": {"mentor": {}}, "lms_status": None},
                                                         "d1"), strict=True))
    assert odd["role"] == "mentor" and odd["synced_in_lms"] is None and odd["district_id"] == "d1"


def test_section_membership_counts_students_once_and_keeps_the_teacher() -> None:
    row, members = models.section_rows(
        {"id": "s1", "teacher": "t1", "teachers": ["t2"], "students": ["u1", "u2", "u1"],
         "lms_status": {"synced_in_lms": True}}, "d1")
    section = dict(zip(models.SECTION_COLUMNS, row, strict=True))
    assert section["student_count"] == 2 and section["teacher_id"] == "t1" and section["synced_in_lms"] == 1
    assert [(m[1], m[2]) for m in members] == [("t1", "teacher"), ("t2", "teacher"), ("u1", "student"),
                                               ("u2", "student")]
