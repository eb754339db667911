"""Helpers for the sync tests: a served sandbox, a client for it, and an independent check that
the cache holds exactly what the sandbox serves."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any

import sqlite_utils

from lmsdata.client import CleverClient, ClientOptions
from lmsdata.sandbox import Sandbox
from tests import sandbox_fixtures

CLIENT_ID = sandbox_fixtures.CLIENT_ID
CLIENT_SECRET = sandbox_fixtures.CLIENT_SECRET
FAST_RETRIES = ClientOptions(backoff_base=0.02, backoff_cap=0.2, read_timeout=5.0)
MIRROR_TABLES = ("users", "sections", "section_users", "schools", "terms")


class FakeTime:
    """A clock shared by the sandbox and the client that moves only when the client sleeps."""

    def __init__(self, start: float = 1_800_000_030.0) -> None:
        self.now = start
        self.slept = 0.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.slept += seconds


def served(**options: Any) -> AbstractContextManager[tuple[Sandbox, str]]:
    """A demo-scale sandbox on a loopback port (the sandbox tests' helper, at the sync's scale)."""
    return sandbox_fixtures.served(**{"scale": "demo", **options})


def client_for(url: str, options: ClientOptions = FAST_RETRIES, **kwargs: Any) -> CleverClient:
    return CleverClient(CLIENT_ID, CLIENT_SECRET, api_url=url, oauth_url=url, options=options, **kwargs)


def _synced(obj: dict[str, Any]) -> int | None:
    status = obj.get("lms_status")
    return None if status is None else int(bool(status.get("synced_in_lms")))


def assert_mirrors(db: sqlite_utils.Database, sandbox: Sandbox, district_id: str) -> None:
    """The district's cache rows equal what the sandbox serves (computed without lmsdata.models)."""
    served = sandbox.district(district_id)
    row = db.execute(
        "SELECT name, lms_type, lms_state, last_lms_sync, matched_students, matched_teachers, matched_sections, "
        "contact_email, students, teachers, sections, unmatched_students, unmatched_teachers, unsynced_sections, "
        "last_sync_error FROM districts WHERE id = ?",
        [district_id],
    ).fetchone()
    assert row is not None, f"district {district_id} missing from the cache"
    percent = served.get("lms_matched_percentage") or {}
    students = sandbox.users(district_id, role="student")
    teachers = sandbox.users(district_id, role="teacher")
    sections = sandbox.sections(district_id)
    assert row == (
        served["name"], served["lms_type"], served["lms_state"], served["last_lms_sync"],
        percent.get("students"), percent.get("teachers"), percent.get("sections"),
        served["district_contact"]["email"],
        len(students), len(teachers), len(sections),
        sum(_synced(u) == 0 for u in students), sum(_synced(u) == 0 for u in teachers),
        sum(_synced(s) == 0 for s in sections), None,
    )  # fmt: skip

    cached_users = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT id, role, email, first_name, last_name, synced_in_lms FROM users WHERE district_id = ?",
            [district_id],
        )
    }
    expected_users = {}
    for user in sandbox.users(district_id):
        role = next(r for r in ("student", "teacher", "staff", "district_admin") if r in user["roles"])
        expected_users[user["id"]] = (role, user["email"], user["name"]["first"], user["name"]["last"],
                                      _synced(user))
    assert cached_users == expected_users

    cached_sections = {
        r[0]: (r[1], r[2])
        for r in db.execute("SELECT id, synced_in_lms, student_count FROM sections WHERE district_id = ?",
                            [district_id])
    }
    assert cached_sections == {s["id"]: (_synced(s), len(s["students"])) for s in sections}
    members = {(r[0], r[1], r[2]) for r in db.execute(
        "SELECT section_id, user_id, role FROM section_users WHERE district_id = ?", [district_id])}
    expected_members = {(s["id"], u, "student") for s in sections for u in s["students"]}
    expected_members |= {(s["id"], t, "teacher") for s in sections for t in s["teachers"]}
    assert members == expected_members
    schools = {r[0] for r in db.execute("SELECT id FROM schools WHERE district_id = ?", [district_id])}
    assert schools == {s["id"] for s in sandbox.schools(district_id)}
    terms = {r[0] for r in db.execute("SELECT id FROM terms WHERE district_id = ?", [district_id])}
    assert terms == {t["id"] for t in sandbox.terms(district_id)}


def mirror_snapshot(db: sqlite_utils.Database) -> dict[str, Any]:
    """Every mirrored row, and the districts minus the pull time, for comparing two caches."""
    snapshot: dict[str, Any] = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in MIRROR_TABLES}
    columns = [c.name for c in db.table("districts").columns if c.name != "last_pulled_at"]
    snapshot["districts"] = sorted(db.execute(f"SELECT {', '.join(columns)} FROM districts").fetchall())
    return snapshot
