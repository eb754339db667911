"""Split identities as a table: each rule, and a look-alike that is not a duplicate; the guard holds
a push to a suspected duplicate until an operator confirms, audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlite_utils

from lmsdata.access import Principal, Role
from lmsdata.db import connect
from lmsdata.gradebook import confirm_identity, hold_reason, suspected_duplicates


def _user(uid: str, first: str = "Ana", last: str = "Ruiz", email: str | None = None, sis: str | None = None,
          district: str = "d1") -> dict:
    return {"id": uid, "district_id": district, "role": "student", "first_name": first, "last_name": last,
            "email": email or f"{uid}@school.example", "sis_id": sis or f"sis-{uid}"}


CASES = [
    ("same_email", [_user("a", email="Kim@School.example"), _user("b", first="Kim", email=" kim@school.example")],
     {}, ("a", "b")),
    ("same_sis_id", [_user("a", sis="1001"), _user("b", first="Bo", sis="1001")], {}, ("a", "b")),
    ("same_name_in_section", [_user("a"), _user("b", first="ana", last="ruiz ")], {"s1": ["a", "b"]}, ("a", "b")),
    ("took_old_email", [_user("a", email="new@school.example"), _user("b", first="Bo", email="old@school.example")],
     {"event": ("a", {"email": "old@school.example"})}, ("a", "b")),
    ("took_old_sis_id", [_user("a", sis="2002"), _user("b", first="Bo", sis="1001")],
     {"event": ("a", {"roles": {"student": {"sis_id": "1001"}}})}, ("a", "b")),
    # Look-alikes that are different people:
    (None, [_user("a"), _user("b")], {"s1": ["a"], "s2": ["b"]}, ()),                  # same name, other sections
    (None, [_user("a", email="x@school.example"), _user("b", email="x@school.example", district="d2")], {}, ()),
    (None, [_user("a", sis=" "), _user("b", first="Bo", sis=" ")], {}, ()),              # blank SIS ids
    (None, [_user("a", email="new@school.example")], {"event": ("a", {"email": "old@school.example"})}, ()),
]


def _fill(db: sqlite_utils.Database, users: list[dict], extra: dict) -> None:
    db.table("users").insert_all(users)
    for section, members in extra.items():
        if section == "event":
            uid, previous = members
            db.table("events").insert({"id": "e1", "district_id": "d1", "type": "users.updated", "object_id": uid,
                                       "previous_attributes": json.dumps(previous), "received_at": "2026-01-01"})
            continue
        db.table("section_users").insert_all(
            {"section_id": section, "user_id": u, "role": "student", "district_id": "d1"} for u in members)


@pytest.mark.parametrize(("rule", "users", "extra", "expected"), CASES)
def test_duplicate_rules(tmp_path: Path, rule: str | None, users: list[dict], extra: dict,
                         expected: tuple[str, ...]) -> None:
    with connect(tmp_path / "c.db") as db:
        _fill(db, users, extra)
        found = [(d.rule, d.user_ids) for d in suspected_duplicates(db)]
    assert found == ([(rule, expected)] if rule else [])


def test_a_push_to_a_suspected_duplicate_is_held_until_an_operator_confirms(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    push = {"id": 7, "kind": "submission_update", "district_id": "d1", "section_id": "s1", "assignment_key": "q",
            "student_id": "a"}
    with connect(path) as db:
        _fill(db, [_user("a", sis="1001"), _user("b", first="Bo", sis="1001")], {})
        held = hold_reason(db, push)
    assert held is not None and held.kind == "split_identity" and "b" in held.reason
    confirm_identity(path, "a", Principal("ops@partner.example", Role.OPERATOR), "two siblings")
    with connect(path) as db:
        assert hold_reason(db, push) is None
        actions = [r["action"] for r in db.query("SELECT action FROM audit_log")]
    assert actions == ["confirm_identity"]


def test_cli_lists_duplicates_and_confirms_an_identity(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lmsdata.cli import cli

    path = tmp_path / "c.db"
    with connect(path) as db:
        _fill(db, [_user("a", sis="1001"), _user("b", first="Bo", sis="1001")], {})
    listed = CliRunner().invoke(cli, ["gradebook", "duplicates", "--db", str(path), "--format", "csv"])
    assert listed.exit_code == 0 and "a b" in listed.output and "share this SIS id" in listed.output
    done = CliRunner().invoke(cli, ["gradebook", "confirm-identity", "a", "--reason", "twins", "--db", str(path)])
    assert done.exit_code == 0 and "no longer held" in done.output
    with connect(path) as db:
        assert next(r["actor"] for r in db.query("SELECT actor FROM push_approvals")).startswith("cli:")
