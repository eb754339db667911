"""A small, hand-made cache for page tests: four districts with one of each kind of problem.

Rows are inserted straight into the schema (no sandbox, no sync) so each page test knows exactly
what the page must show.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lmsdata.db import bump_data_version, connect

NOW = datetime.now(UTC)


def at(**delta: float) -> str:
    moment = NOW - timedelta(**delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


DISTRICTS = [
    # id, name, lms_type, lms_state, last_lms_sync, matched (students, teachers, sections), unmatched s/t, unsynced
    ("d-healthy", "Maple Grove Schools", "canvas", "success", at(hours=2), (100.0, 100.0, 100.0), 0, 0, 0),
    ("d-below", "Riverside Unified", "schoology", "success", at(hours=3), (60.0, 90.0, 50.0), 2, 0, 1),
    ("d-new", "Cedar Falls District", "", "", None, (None, None, None), 0, 0, 0),
    ("d-error", "Lakeview Public Schools", "google_classroom", "error", at(days=9), (80.0, 80.0, 80.0), 0, 0, 0),
    ("d-quiet", "Quiet Hollow Schools", None, None, None, (None, None, None), 0, 0, 0),
    ("d-pending", "Pine Ridge Academy", "canvas", "pending_authorization", None, (None, None, None), 0, 0, 0),
]


EMAILS = {"u-un1": "grace.hopper@riverside.example.org"}


def build_cache(path: Path) -> Path:
    with connect(path) as db, db.conn:
        for did, name, lms_type, state, lms_sync, matched, un_s, un_t, unsynced in DISTRICTS:
            db.table("districts").insert(
                {
                    "id": did, "name": name, "lms_type": lms_type, "lms_state": state, "last_lms_sync": lms_sync,
                    "matched_students": matched[0], "matched_teachers": matched[1], "matched_sections": matched[2],
                    "contact_name": f"Pat {name.split()[0]}", "contact_email": f"it@{did}.example.org",
                    "students": 5, "teachers": 1, "sections": 2, "unmatched_students": un_s,
                    "unmatched_teachers": un_t, "unsynced_sections": unsynced, "last_pulled_at": at(minutes=5),
                }
            )
            snapshots = ((at(days=2), "matching_in_progress", 40.0), (at(minutes=5), state, matched[0]))
            for pulled, hist_state, pct in snapshots:
                db.table("district_history").insert(
                    {"district_id": did, "pulled_at": pulled, "sync_run_id": 1, "lms_type": lms_type,
                     "lms_state": hist_state, "matched_students": pct, "matched_teachers": pct, "matched_sections": pct}
                )
            db.table("schools").insert({"id": f"{did}-sch", "district_id": did, "name": f"{name.split()[0]} High"})
        db.table("users").insert_all(
            [
                {"id": "u-ok", "district_id": "d-healthy", "role": "student",
                 "first_name": "Ada", "last_name": "Lovelace",
                 "email": "ada.lovelace@maple.example.org", "sis_id": "S100", "school_id": "d-healthy-sch",
                 "synced_in_lms": 1},
                {"id": "u-un1", "district_id": "d-below", "role": "student",
                 "first_name": "Grace", "last_name": "Hopper",
                 "email": "grace.hopper@riverside.example.org", "sis_id": "S200", "school_id": "d-below-sch",
                 "synced_in_lms": 0},
                {"id": "u-un2", "district_id": "d-below", "role": "student",
                 "first_name": "Alan", "last_name": "Turing",
                 "email": "alan.turing@riverside.example.org", "sis_id": "S201", "school_id": "d-below-sch",
                 "synced_in_lms": 0},
                {"id": "u-teach", "district_id": "d-below", "role": "teacher", "first_name": "Edsger",
                 "last_name": "Dijkstra", "email": "edsger@riverside.example.org", "sis_id": "T1",
                 "school_id": "d-below-sch", "synced_in_lms": 1},
            ]
        )
        db.table("sections").insert_all(
            [
                {"id": "s-ok", "district_id": "d-healthy", "school_id": "d-healthy-sch", "name": "Algebra I",
                 "synced_in_lms": 1, "teacher_id": None, "student_count": 1},
                {"id": "s-un", "district_id": "d-below", "school_id": "d-below-sch", "name": "Biology 2",
                 "synced_in_lms": 0, "teacher_id": "u-teach", "student_count": 2},
            ]
        )
        db.table("sync_runs").insert(
            {"id": 1, "started_at": at(minutes=6), "finished_at": at(minutes=5), "mode": "full", "outcome": "partial",
             "actor": "cli:test", "districts_total": 4, "districts_failed": 1, "requests": 40, "records": 30}
        )
        db.table("sync_run_districts").insert_all(
            [
                {"run_id": 1, "district_id": did, "mode": "full", "started_at": at(minutes=6),
                 "finished_at": at(minutes=5), "outcome": "failed" if did == "d-error" else "success",
                 "error": "Clever answered 503 Service Unavailable" if did == "d-error" else None}
                for did, *_ in DISTRICTS
            ]
        )
        db.table("events").insert(
            {"id": "ev1", "district_id": "d-below", "type": "users.updated", "created": at(hours=1),
             "object_id": "u-un1", "previous_attributes": json.dumps({"email": "old@x.org"}),
             "received_at": at(minutes=5), "sync_run_id": 1}
        )
        pushes = [
            # id, district, section, student, state, category, status, message
            (1, "d-below", "s-un", "u-un1", "failed", "student_not_matched", 404, "User not found"),
            (2, "d-healthy", "s-ok", "u-ok", "failed", "transient", 503, "Service Unavailable"),
            (3, "d-healthy", "s-ok", "u-ok", "sent", None, 200, None),
            (4, "d-below", "s-un", "u-un2", "failed", "transient", 503, "Service Unavailable"),
        ]
        for pid, did, sid, uid, state, category, status, message in pushes:
            payload = json.dumps({"grade": "9", "feedback": f"to {EMAILS.get(uid, '')}"})
            db.table("pushes").insert(
                {"id": pid, "district_id": did, "section_id": sid, "assignment_key": "quiz-1", "student_id": uid,
                 "kind": "submission_update", "payload": payload,
                 "state": state, "category": category, "last_status": status, "last_message": message,
                 "attempts": 1, "source": "demo", "created_at": at(hours=pid), "updated_at": at(hours=pid)}
            )
            db.table("push_attempts").insert(
                {"push_id": pid, "started_at": at(hours=pid), "duration_ms": 120.0, "http_status": status,
                 "message": message, "outcome": "sent" if state == "sent" else "failed", "trigger": "first"}
            )
        db.table("invitations").insert(
            {"id": 1, "district_id": "d-new", "email": "it@d-new.example.org", "state": "sent", "actor": "demo",
             "created_at": at(days=1), "sent_at": at(days=1), "expires_at": at(days=-13)}
        )
        db.table("audit_log").insert(
            {"at": at(days=1), "actor": "demo", "action": "invite", "target": "d-new", "params": "{}", "outcome": "ok"}
        )
        bump_data_version(db)
    return path


# A configured sign-in for AppTest: `at.secrets` reaches the frame's `[auth]` check (lmsdata.exposure), and
# `at.user` stands in for the identity provider's claims (AppTest cannot run the redirect flow).
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "cookie-secret-for-page-tests",
    "client_id": "page-tests",
    "client_secret": "page-tests-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ADMIN_EMAIL = "test@example.com"  # AppTest's own default user; the role tests set LMSDATA_ADMINS to it


def signed_in(at: Any, email: str | None = ADMIN_EMAIL, name: str = "Test Person") -> Any:
    """`at` with sign-in configured and `email` signed in (None: a visitor who has not signed in)."""
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": email, "name": name} if email else {"is_logged_in": False}
    return at
