"""The append-only audit log: who did what, to what, with which parameters, and how it ended.

Write the audit row in the same transaction as the change it records when there is one, so a
crash cannot leave an action without its trace (or a trace without its action).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata.access import AccessDenied, Actor, Permission, actor_name, audit_scope, require
from lmsdata.db import bump_data_version, connect, utcnow
from lmsdata.redact import redact

OUTCOMES = ("ok", "failed", "refused", "partial")


def record(
    db: sqlite_utils.Database,
    *,
    actor: str,
    action: str,
    target: str | None,
    outcome: str,
    params: Mapping[str, Any] | None = None,
    detail: str | None = None,
) -> int:
    """Append one audit row and return its id."""
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {OUTCOMES}, got {outcome!r}")
    cursor = db.execute(
        "INSERT INTO audit_log (at, actor, action, target, params, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            utcnow(),
            actor,
            action,
            target,
            redact(json.dumps(dict(params or {}), sort_keys=True, default=str)),
            outcome,
            redact(detail) if detail else None,
        ],
    )
    return int(cursor.lastrowid or 0)


def authorize(
    db_path: str | Path,
    actor: Actor,
    permission: Permission,
    *,
    action: str,
    target: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> str:
    """`access.require`, with a refusal written to the log (outcome "refused") before it is raised.

    Every acting library function calls this first, so nothing happens for a role that is not enough,
    and a refused attempt is as attributable as a done one. Returns the actor's audit name.
    """
    try:
        return require(actor, permission)
    except AccessDenied as exc:
        with connect(db_path) as db, db.conn:
            record(db, actor=actor_name(actor), action=action, target=target, outcome="refused",
                   params={k: v for k, v in (params or {}).items() if v is not None}, detail=str(exc))
            bump_data_version(db)
        raise


def entries(
    db: sqlite_utils.Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 500,
    viewer: Actor | None = None,
) -> list[dict[str, Any]]:
    """Newest first, optionally for one actor or one kind of action.

    With a `viewer`, only what that person may see: their own entries unless their role may see everyone's.
    """
    own = audit_scope(viewer) if viewer is not None else None
    if own is not None and actor not in (None, own):
        return []
    actor = own or actor
    where, args = [], []
    if actor:
        where.append("actor = ?")
        args.append(actor)
    if action:
        where.append("action = ?")
        args.append(action)
    sql = "SELECT * FROM audit_log" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY id DESC LIMIT ?"
    return list(db.query(sql, [*args, limit]))
