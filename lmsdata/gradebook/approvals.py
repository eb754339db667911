"""An operator's explicit, audited go-ahead for a push the guard holds (docs/gradebook.md)."""

from __future__ import annotations

from pathlib import Path

from lmsdata import audit
from lmsdata.access import Actor, Permission
from lmsdata.db import bump_data_version, connect, utcnow

OVERWRITE_TEACHER = "overwrite_teacher"  # subject: the push id
IDENTITY = "identity"                    # subject: the student's Clever user id


def _approve(db_path: str | Path, actor: Actor, kind: str, subject: str, action: str, reason: str) -> None:
    who = audit.authorize(db_path, actor, Permission.RETRY, action=action, target=subject, params={"reason": reason})
    with connect(db_path) as db, db.conn:
        db.table("push_approvals").upsert({"kind": kind, "subject": subject, "actor": who, "at": utcnow()},
                                          pk=("kind", "subject"))  # fmt: skip
        audit.record(db, actor=who, action=action, target=subject, outcome="ok", params={"reason": reason})
        bump_data_version(db)


def overwrite_anyway(db_path: str | Path, push_id: int, actor: Actor, reason: str = "") -> None:
    """Let the next retry of `push_id` write over the teacher's edit in the LMS (operator role)."""
    _approve(db_path, actor, OVERWRITE_TEACHER, str(push_id), "overwrite_teacher", reason)


def confirm_identity(db_path: str | Path, student_id: str, actor: Actor, reason: str = "") -> None:
    """Say a suspected duplicate student is a distinct person, so pushes to them are sent (operator role)."""
    _approve(db_path, actor, IDENTITY, student_id, "confirm_identity", reason)
