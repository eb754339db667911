"""The push log: every grade push, every attempt, and the assignment ids Clever hands back.

Clever has no endpoint that lists assignments, so an assignment id that is not stored here the
moment Clever returns it is lost for good. Writes that belong together (an attempt's result and
the push's new state) happen in one transaction so a crash never leaves them out of step.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from lmsdata import inputs
from lmsdata.db import bump_data_version, utcnow, write_transaction
from lmsdata.pushes.taxonomy import Category
from lmsdata.redact import redact

KINDS = ("assignment_create", "assignment_update", "submission_update")
STATES = ("pending", "sent", "failed", "superseded", "unknown")
RETRYABLE_STATES = ("failed", "unknown", "pending")
IN_FLIGHT = "in_flight"  # push_attempts.outcome while a request is on the wire


def iso(moment: datetime) -> str:
    """The cache's timestamp format (see `lmsdata.db.utcnow`) for any aware datetime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str) -> datetime:
    """Read an ISO-8601 timestamp; a naive one is taken as UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NewPush:
    district_id: str
    section_id: str
    assignment_key: str
    kind: str
    payload: Mapping[str, Any]
    student_id: str | None = None
    created_at: str | None = None


def insert_push(
    db: sqlite_utils.Database,
    push: NewPush,
    *,
    source: str,
    state: str = "pending",
    lease_owner: str | None = None,
    lease_until: str | None = None,
) -> int:
    """Log a push before it is sent; the caller may hold its lease from the start.

    A NaN or infinite number in the payload is refused (InputError): Clever cannot receive it."""
    bad = inputs.non_finite(dict(push.payload))
    if bad is not None:
        raise inputs.InputError(bad, "a finite number (grades cannot be NaN or infinite)", show_got=False)
    now = utcnow()
    cursor = db.execute(
        "INSERT INTO pushes (district_id, section_id, assignment_key, student_id, kind, payload, state, "
        "source, created_at, updated_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            push.district_id,
            push.section_id,
            push.assignment_key,
            push.student_id,
            push.kind,
            json.dumps(dict(push.payload), sort_keys=True),
            state,
            source,
            push.created_at or now,
            now,
            lease_owner,
            lease_until,
        ],
    )
    return int(cursor.lastrowid or 0)


def get_push(db: sqlite_utils.Database, push_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM pushes WHERE id = ?", [push_id]))
    return rows[0] if rows else None


def start_attempt(db: sqlite_utils.Database, push_id: int, *, trigger: str, started_at: str | None = None) -> int:
    """Record that a request is about to go out. If the process dies now, the next run sees it
    and checks Clever before sending again."""
    cursor = db.execute(
        "INSERT INTO push_attempts (push_id, started_at, outcome, trigger) VALUES (?, ?, ?, ?)",
        [push_id, started_at or utcnow(), IN_FLIGHT, trigger],
    )
    return int(cursor.lastrowid or 0)


@dataclass(frozen=True)
class AttemptResult:
    outcome: str                    # sent | failed | unknown | skipped
    status: int | None = None
    message: str | None = None
    duration_ms: float | None = None
    category: Category | None = None


def finish_attempt(
    db: sqlite_utils.Database,
    push_id: int,
    attempt_id: int | None,
    result: AttemptResult,
    *,
    push_state: str | None,
    at: str | None = None,
) -> None:
    """Close an attempt and, with `push_state`, move the push to it, release its lease and bump the
    data version, atomically.

    `push_state=None` records an attempt that will be followed by another (automatic retry).
    """
    message = redact(result.message) if result.message else None
    counted = 1 if attempt_id is not None else 0
    with db.atomic():
        if attempt_id is not None:
            db.execute(
                "UPDATE push_attempts SET outcome = ?, http_status = ?, message = ?, duration_ms = ? WHERE id = ?",
                [result.outcome, result.status, message, result.duration_ms, attempt_id],
            )
        if push_state is None:
            db.execute(
                "UPDATE pushes SET last_status = ?, last_message = ?, attempts = attempts + ?, updated_at = ? "
                "WHERE id = ?",
                [result.status, message, counted, at or utcnow(), push_id],
            )
            return
        category = result.category.slug if result.category and push_state in ("failed", "unknown") else None
        bump_data_version(db)
        db.execute(
            "UPDATE pushes SET state = ?, category = ?, last_status = ?, last_message = ?, "
            "attempts = attempts + ?, updated_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
            [push_state, category, result.status, message, counted, at or utcnow(), push_id],
        )


def record_skip(
    db: sqlite_utils.Database, push_id: int, reason: str, *, category: Category | None = None
) -> None:
    """A retry looked at the push and did not send it: keep the reason as a zero-request attempt,
    note what blocks it now, and release the lease."""
    with db.atomic():
        db.execute(
            "INSERT INTO push_attempts (push_id, started_at, duration_ms, message, outcome, trigger) "
            "VALUES (?, ?, 0, ?, 'skipped', 'retry')",
            [push_id, utcnow(), redact(reason)],
        )
        db.execute(
            "UPDATE pushes SET category = COALESCE(?, category), lease_owner = NULL, lease_until = NULL "
            "WHERE id = ?",
            [category.slug if category else None, push_id],
        )


def open_attempt(db: sqlite_utils.Database, push_id: int) -> dict[str, Any] | None:
    """The attempt a dead run left on the wire, if any."""
    rows = list(
        db.query(
            "SELECT * FROM push_attempts WHERE push_id = ? AND outcome = ? ORDER BY id DESC LIMIT 1",
            [push_id, IN_FLIGHT],
        )
    )
    return rows[0] if rows else None


def attempts(db: sqlite_utils.Database, push_id: int) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM push_attempts WHERE push_id = ? ORDER BY id", [push_id]))


# --- assignment ids ---------------------------------------------------------------------------


def assignment_row(
    db: sqlite_utils.Database, district_id: str, section_id: str, assignment_key: str
) -> dict[str, Any] | None:
    rows = list(
        db.query(
            "SELECT * FROM assignments WHERE district_id = ? AND section_id = ? AND assignment_key = ?",
            [district_id, section_id, assignment_key],
        )
    )
    return rows[0] if rows else None


def live_assignment_id(
    db: sqlite_utils.Database, district_id: str, section_id: str, assignment_key: str
) -> str | None:
    """Clever's id for the assignment, unless a teacher deleted it in the LMS since."""
    row = assignment_row(db, district_id, section_id, assignment_key)
    if row and row["assignment_id"] and not row["deleted_at"]:
        return str(row["assignment_id"])
    return None


def store_assignment_id(
    db: sqlite_utils.Database,
    district_id: str,
    section_id: str,
    assignment_key: str,
    assignment_id: str,
    *,
    title: str | None = None,
) -> None:
    """Keep the id the moment Clever returns it (a recreate replaces a deleted one)."""
    db.execute(
        "INSERT INTO assignments (district_id, section_id, assignment_key, assignment_id, title, created_at, "
        "deleted_at) VALUES (?, ?, ?, ?, ?, ?, NULL) "
        "ON CONFLICT (district_id, section_id, assignment_key) DO UPDATE SET "
        "assignment_id = excluded.assignment_id, title = COALESCE(excluded.title, title), "
        "created_at = excluded.created_at, deleted_at = NULL",
        [district_id, section_id, assignment_key, assignment_id, title, utcnow()],
    )


def mark_assignment_deleted(db: sqlite_utils.Database, district_id: str, section_id: str, assignment_key: str) -> None:
    db.execute(
        "UPDATE assignments SET deleted_at = ? WHERE district_id = ? AND section_id = ? AND assignment_key = ? "
        "AND deleted_at IS NULL",
        [utcnow(), district_id, section_id, assignment_key],
    )


# --- supersession -----------------------------------------------------------------------------

_SAME_KEY = (
    "n.district_id = p.district_id AND n.section_id = p.section_id AND n.assignment_key = p.assignment_key "
    "AND n.student_id IS p.student_id AND n.kind = p.kind"
)
_NEWER = "(n.created_at > p.created_at OR (n.created_at = p.created_at AND n.id > p.id))"


def supersede_older(db: sqlite_utils.Database, push_ids: Sequence[int] | None = None) -> int:
    """Mark every unsent update that has a newer payload for the same (section, assignment, student)
    superseded, pointing at the newest one (already superseded ones are re-pointed to it too).
    Creates are never superseded: later updates need them.

    With `push_ids`, only those pushes are considered (a retry's selection); otherwise all of them.
    """
    scope = ""
    args: list[Any] = [utcnow()]
    if push_ids is not None:
        if not push_ids:
            return 0
        scope = f" AND p.id IN ({','.join('?' * len(push_ids))})"
        args.extend(push_ids)
    cursor = db.execute(
        f"""
        UPDATE pushes AS p SET state = 'superseded', updated_at = ?, category = NULL,
            superseded_by = (SELECT n.id FROM pushes n WHERE {_SAME_KEY}
                             ORDER BY n.created_at DESC, n.id DESC LIMIT 1)
        WHERE p.state IN ('failed', 'pending', 'unknown', 'superseded') AND p.kind != 'assignment_create'
          AND (p.lease_until IS NULL OR p.lease_until < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')){scope}
          AND EXISTS (SELECT 1 FROM pushes n WHERE {_SAME_KEY} AND {_NEWER})
        """,
        args,
    )
    return cursor.rowcount


def same_key_ids(db: sqlite_utils.Database, push_id: int) -> list[int]:
    """Every push for the same (section, assignment, student) and kind as `push_id`, itself included."""
    sql = f"SELECT n.id FROM pushes n, pushes p WHERE p.id = ? AND {_SAME_KEY}"
    return [row[0] for row in db.execute(sql, [push_id]).fetchall()]


def newer_push(db: sqlite_utils.Database, push: Mapping[str, Any]) -> dict[str, Any] | None:
    """The newest push with a newer payload for the same key, if any (so this one must not be sent)."""
    if push["kind"] == "assignment_create":
        return None
    rows = list(
        db.query(
            f"SELECT n.* FROM pushes n, (SELECT ? AS id, ? AS district_id, ? AS section_id, ? AS assignment_key, "
            f"? AS student_id, ? AS kind, ? AS created_at) AS p WHERE {_SAME_KEY} AND {_NEWER} "
            "ORDER BY n.created_at DESC, n.id DESC LIMIT 1",
            [
                push["id"],
                push["district_id"],
                push["section_id"],
                push["assignment_key"],
                push["student_id"],
                push["kind"],
                push["created_at"],
            ],
        )
    )
    return rows[0] if rows else None


def mark_superseded(db: sqlite_utils.Database, push_id: int, by: int) -> None:
    db.execute(
        "UPDATE pushes SET state = 'superseded', superseded_by = ?, category = NULL, updated_at = ?, "
        "lease_owner = NULL, lease_until = NULL WHERE id = ?",
        [by, utcnow(), push_id],
    )


# --- leases -----------------------------------------------------------------------------------


def new_lease_owner() -> str:
    """host:pid:random, so a later run on this host can tell a dead owner from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True only when the owner ran on this host and its process is gone."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_deadline(seconds: float, now: datetime | None = None) -> str:
    return iso((now or datetime.now(UTC)) + timedelta(seconds=seconds))


def claim(
    db: sqlite_utils.Database, push_ids: Sequence[int], owner: str, *, lease_s: float
) -> list[int]:
    """Take the lease on those of `push_ids` nobody else holds; return the ones now ours.

    A lease is free when it was never taken, has expired, or belongs to a process on this host
    that no longer exists (a killed run), so nothing stays claimed forever.
    """
    if not push_ids:
        return []
    marks = ",".join("?" * len(push_ids))
    with write_transaction(db):
        holders = [
            row[0]
            for row in db.execute(
                f"SELECT DISTINCT lease_owner FROM pushes WHERE id IN ({marks}) AND lease_owner IS NOT NULL",
                list(push_ids),
            ).fetchall()
        ]
        dead = [h for h in holders if h != owner and owner_is_dead(h)]
        dead_clause = f" OR lease_owner IN ({','.join('?' * len(dead))})" if dead else ""
        db.execute(
            f"UPDATE pushes SET lease_owner = ?, lease_until = ? WHERE id IN ({marks}) "
            f"AND state IN ('failed', 'unknown', 'pending') "
            f"AND (lease_until IS NULL OR lease_until < ?{dead_clause})",
            [owner, lease_deadline(lease_s), *push_ids, utcnow(), *dead],
        )
        return [
            row[0]
            for row in db.execute(
                f"SELECT id FROM pushes WHERE id IN ({marks}) AND lease_owner = ? ORDER BY id",
                [*push_ids, owner],
            ).fetchall()
        ]


def renew(db: sqlite_utils.Database, push_ids: Sequence[int], owner: str, *, lease_s: float) -> None:
    """Extend the leases this owner still holds (a long batch must not lose them half-way)."""
    if push_ids:
        db.execute(
            f"UPDATE pushes SET lease_until = ? WHERE id IN ({','.join('?' * len(push_ids))}) AND lease_owner = ?",
            [lease_deadline(lease_s), *push_ids, owner],
        )


def release(db: sqlite_utils.Database, push_ids: Sequence[int], owner: str) -> None:
    if push_ids:
        db.execute(
            f"UPDATE pushes SET lease_owner = NULL, lease_until = NULL "
            f"WHERE id IN ({','.join('?' * len(push_ids))}) AND lease_owner = ?",
            [*push_ids, owner],
        )


# --- reading ----------------------------------------------------------------------------------

LIST_COLUMNS = (
    "id", "district_id", "section_id", "assignment_key", "student_id", "kind", "state", "category",
    "owner", "last_status", "last_message", "attempts", "created_at", "updated_at", "next_step",
)  # fmt: skip


def with_category_details(row: Mapping[str, Any]) -> dict[str, Any]:
    """Add the category's owner, label and next step to a push row."""
    out = dict(row)
    category = Category.from_slug(row["category"]) if row.get("category") else None
    out["owner"] = category.owner if category else None
    out["category_label"] = category.label if category else None
    out["next_step"] = category.next_step if category else None
    return out


def list_pushes(
    db: sqlite_utils.Database,
    state: str | None = None,
    district_id: str | None = None,
    category: str | Category | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first, each with the category's owner and next step."""
    where, args = _filters(state=state, district_id=district_id, category=category)
    sql = "SELECT * FROM pushes" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY created_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [with_category_details(row) for row in db.query(sql, args)]


def _filters(
    *, state: str | None, district_id: str | None, category: str | Category | None
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if state is not None:
        if state not in STATES:
            raise ValueError(f"unknown push state {state!r}; choose one of: {', '.join(STATES)}")
        where.append("state = ?")
        args.append(state)
    if district_id is not None:
        where.append("district_id = ?")
        args.append(district_id)
    if category is not None:
        slug = category.slug if isinstance(category, Category) else Category.from_slug(category).slug
        where.append("category = ?")
        args.append(slug)
    return where, args


def retryable_ids(
    db: sqlite_utils.Database, *, district_id: str | None = None, category: str | Category | None = None
) -> list[int]:
    """Every failed (or unknown, or stale pending) push matching the filters, oldest first."""
    where, args = _filters(state=None, district_id=district_id, category=category)
    where.append("state IN ('failed', 'unknown', 'pending')")
    sql = f"SELECT id FROM pushes WHERE {' AND '.join(where)} ORDER BY created_at, id"
    return [row[0] for row in db.execute(sql, args).fetchall()]
