"""Unmasking student details: a deliberate act, allowed by role and always written to the audit log.

The dashboard masks names, e-mails and SIS ids (`lmsdata.masking`); these functions are the only
way it shows them in full, so every look at unmasked data has an actor, a time and a target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmsdata import audit
from lmsdata.access import Actor, Permission
from lmsdata.db import bump_data_version, connect


def reveal_student(db_path: str | Path, actor: Actor, user_id: str, reason: str | None = None) -> dict[str, Any]:
    """One student's (or teacher's) name, e-mail and SIS id, unmasked; audited as "reveal".

    `reason` says where the look came from (for example "push 42"); it is kept in the audit row.
    Raises AccessDenied (audited) for a role that may not reveal, LookupError for an unknown user.
    """
    target = f"user:{user_id}"
    params = {"what": "name, e-mail and SIS id", **({"reason": reason} if reason else {})}
    who = audit.authorize(db_path, actor, Permission.REVEAL_ONE, action="reveal", target=target, params=params)
    with connect(db_path) as db, db.conn:
        found = list(db.query(
            "SELECT id, district_id, role, first_name, last_name, email, sis_id FROM users WHERE id = ?", [user_id]
        ))
        if not found:
            raise LookupError(f"There is no user {user_id!r} in the cache; the last sync may have removed it.")
        user = found[0]
        audit.record(db, actor=who, action="reveal", target=target, outcome="ok",
                     params={**params, "district_id": user["district_id"]})
        bump_data_version(db)
    name = " ".join(part for part in (user["first_name"], user["last_name"]) if part)
    return {**user, "name": name}


def reveal_all(db_path: str | Path, actor: Actor, scope: str) -> int:
    """Allow unmasked student data in bulk for `scope` (what is shown, e.g. "unmatched users, district d1").

    Admins only; audited as "reveal_all" whatever happens next. Returns the audit row's id.
    """
    who = audit.authorize(db_path, actor, Permission.REVEAL_ALL, action="reveal_all", target=scope)
    with connect(db_path) as db, db.conn:
        entry = audit.record(db, actor=who, action="reveal_all", target=scope, outcome="ok",
                             params={"what": "names, e-mails and SIS ids"})
        bump_data_version(db)
    return entry
