"""The dashboard's read-only queries on the hand-made cache: what each page is given to show."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlite_utils

from lmsdata import queries
from lmsdata.db import connect
from tests.ui_fixtures import NOW, build_cache


@pytest.fixture
def db(db_path: Path):  # type: ignore[no-untyped-def]
    build_cache(db_path)
    with connect(db_path) as database:
        yield database


def test_headline_counts_failed_pushes_by_age_and_open_invitations(db: sqlite_utils.Database) -> None:
    counts = queries.headline(db, NOW)
    assert counts == {"failed_last_day": 3, "failed_last_week": 3, "failed_total": 3, "open_invitations": 1,
                      "unmatched_students": 2}
    db.execute("UPDATE pushes SET updated_at = '2020-01-01T00:00:00.000Z' WHERE id = 1")
    assert queries.headline(db, NOW)["failed_last_week"] == 2
    db.execute("UPDATE districts SET lms_state = 'matching_in_progress' WHERE id = 'd-below'")
    assert queries.headline(db, NOW)["unmatched_students"] == 0  # still setting up: not counted


def test_unmatched_users_filters_and_search(db: sqlite_utils.Database) -> None:
    assert set(queries.unmatched_users(db)["id"]) == {"u-un1", "u-un2"}
    assert list(queries.unmatched_users(db, search="hopper")["id"]) == ["u-un1"]
    assert list(queries.unmatched_users(db, search="alan.turing@")["id"]) == ["u-un2"]
    assert list(queries.unmatched_users(db, search="Grace Hopper")["id"]) == ["u-un1"]
    assert queries.unmatched_users(db, roles=("teacher",)).empty
    assert queries.unmatched_users(db, lms_types=("canvas",)).empty
    assert len(queries.unmatched_users(db, school_ids=("d-below-sch",))) == 2
    assert len(queries.unmatched_users(db, limit=1)) == 1
    first = queries.unmatched_users(db).iloc[0]
    assert first["school"] == "Riverside High" and first["district"] == "Riverside Unified"


def test_unsynced_sections_carry_school_and_teacher(db: sqlite_utils.Database) -> None:
    section = queries.unsynced_sections(db).iloc[0]
    assert (section["id"], section["teacher"], section["school"]) == ("s-un", "Edsger Dijkstra", "Riverside High")
    assert queries.unsynced_sections(db, district_ids=("d-healthy",)).empty


def test_readiness_follows_the_cache_state(db: sqlite_utils.Database) -> None:
    """A push blocked on an unmatched student looks ready once a sync sees the student matched."""
    ready = dict(zip(*[queries.failed_pushes(db)[c] for c in ("id", "ready")], strict=True))
    assert ready == {1: 0, 2: 1, 4: 0}  # 4 failed for a transient reason, but its section is not synced
    db.execute("UPDATE users SET synced_in_lms = 1 WHERE id = 'u-un1'")
    assert set(queries.failed_pushes(db, ready_only=True)["id"]) == {2}  # section s-un still not synced
    db.execute("UPDATE sections SET synced_in_lms = 1 WHERE id = 's-un'")
    assert set(queries.failed_pushes(db, ready_only=True)["id"]) == {1, 2}
    blocked = queries.failed_pushes(db).set_index("id").loc[4]  # its student is still unmatched
    assert "student u-un2 is still not matched" in blocked["ready_reason"] and blocked["ready_owner"] == "district"
    db.execute("UPDATE users SET synced_in_lms = 1 WHERE id = 'u-un2'")
    assert set(queries.failed_pushes(db, ready_only=True)["id"]) == {1, 2, 4}
    db.execute("UPDATE districts SET lms_state = 'error' WHERE id = 'd-below'")
    assert set(queries.failed_pushes(db, ready_only=True)["id"]) == {2}  # nothing goes to a district in error


def test_failures_group_by_category_and_cluster_across_districts(db: sqlite_utils.Database) -> None:
    groups = queries.failed_by_category(db)
    by_category = groups.groupby("category")[["pushes", "ready"]].sum()  # one row per category and owner
    assert by_category.loc["transient", "pushes"] == 2 and by_category.loc["student_not_matched", "ready"] == 0
    # grouped by the readiness check's owner, as each push's row: transient push 2 looks ready (ours), transient
    # push 4 and unmatched-student push 1 wait on their unsynced section first (Clever support's), not on the
    # categories' static owners (nobody, district)
    owners = {(row.category, row.owner): row.pushes for row in groups.itertuples()}
    assert owners == {("transient", "partner"): 1, ("transient", "clever_support"): 1,
                      ("student_not_matched", "clever_support"): 1}
    step_of_4 = queries.failed_pushes(db).set_index("id").loc[4, "ready_next_step"]
    assert groups.set_index(["category", "owner"]).loc[("transient", "clever_support"), "next_step"] == step_of_4
    clusters = queries.failure_clusters(db)
    top = clusters.iloc[0]
    assert (top["error"], top["districts"], top["district_ids"]) == ("Service Unavailable", 2, ["d-below", "d-healthy"])
    assert top["lms_types"] == "canvas, schoology"
    db.execute("UPDATE pushes SET last_status = NULL, last_message = 'No assignment id' WHERE id = 1")
    never_sent = queries.failure_clusters(db).set_index("error").loc["No assignment id"]
    assert pd.isna(never_sent["last_status"])  # it never reached Clever: no HTTP status, not 0


def test_error_signature_blanks_ids_and_numbers() -> None:
    a = queries.error_signature("Section 5f8a9b1c2d3e4f5a6b7c8d9e not found after 3 tries")
    b = queries.error_signature("Section 0123456789abcdef01234567 not found after 12 tries")
    assert a == b == "Section # not found after # tries"


def test_push_details_and_attempts(db: sqlite_utils.Database) -> None:
    push = queries.push(db, 1)
    assert push is not None
    assert (push["student"], push["student_email"], push["district"]) == (
        "Grace Hopper", "grace.hopper@riverside.example.org", "Riverside Unified")
    assert list(queries.push_attempts(db, 1)["http_status"]) == [404]
    assert queries.push(db, 999) is None


def test_sync_and_audit_readers(db: sqlite_utils.Database) -> None:
    assert queries.freshness(db)["last_run"]["outcome"] == "partial"
    per_district = queries.sync_run_districts(db, run_id=1)
    assert set(per_district[per_district["outcome"] == "failed"]["district_id"]) == {"d-error"}
    assert list(queries.sync_run_districts(db, district_id="d-new")["run_id"]) == [1]
    assert list(queries.events(db)["type"]) == ["users.updated"]
    assert len(queries.history(db, "d-below")) == 2
    assert list(queries.audit_log(db, actions=("invite",))["target"]) == ["d-new"]
    assert queries.audit_log(db, search="zzz").empty
    assert queries.audit_choices(db) == {"actions": ["invite"], "actors": ["demo"]}
    assert queries.district(db, "nope") is None
    assert "raw" not in (queries.district(db, "d-new") or {})
