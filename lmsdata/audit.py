"""The append-only audit log: who did what, to what, with which parameters, and how it ended.

Write the audit row in the same transaction as the change it records when there is one, so a
crash cannot leave an action without its trace (or a trace without its action).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from lmsdata.db import utcnow
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


def entries(
    db: sqlite_utils.Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Newest first, optionally for one actor or one kind of action."""
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
