"""Read-only queries the dashboard pages run against the cache, returned as pandas frames.

Every query here uses an index from `lmsdata.db` (or reads a small table), and every list that can
grow with the partner's size takes a `limit`, so pages stay fast on a cache with a million users.
No streamlit here: the UI layer caches these results by `(db_path, data_version)`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlite_utils

from lmsdata.pushes import readiness

FAILED_STATES = ("failed", "unknown")
OPEN_INVITATION_STATES = ("sent",)
SETUP_STATES = ("pending_authorization", "initial_sync_processing", "matching_in_progress")


def _frame(
    db: sqlite_utils.Database, sql: str, params: Sequence[Any] = (), columns: Sequence[str] = ()
) -> pd.DataFrame:
    cursor = db.execute(sql, list(params))
    names = [d[0] for d in cursor.description] if cursor.description else list(columns)
    return pd.DataFrame.from_records(cursor.fetchall(), columns=names)


def _limited(db: sqlite_utils.Database, sql: str, params: list[Any], limit: int | None) -> pd.DataFrame:
    """Run `sql` with `LIMIT limit` appended unless `limit` is None (then every row, e.g. for an export)."""
    return _frame(db, sql + (" LIMIT ?" if limit else ""), [*params, *([limit] if limit else [])])


def _in(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def freshness(db: sqlite_utils.Database) -> dict[str, Any]:
    """How old the cached data is: the newest pull, and the last sync run with its outcome."""
    pulled = db.execute("SELECT MAX(last_pulled_at), COUNT(*) FROM districts").fetchone()
    run = db.execute(
        "SELECT id, started_at, finished_at, mode, outcome, districts_failed FROM sync_runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    keys = ("id", "started_at", "finished_at", "mode", "outcome", "districts_failed")
    return {
        "last_pulled_at": pulled[0],
        "districts": pulled[1],
        "last_run": dict(zip(keys, run, strict=True)) if run else None,
    }


def headline(db: sqlite_utils.Database, now: datetime) -> dict[str, int]:
    """The counts the Overview shows above its table (those not derived from district health).

    `unmatched_students` counts districts past setup only (see `SETUP_STATES`)."""
    day, week = _iso(now - timedelta(days=1)), _iso(now - timedelta(days=7))
    failed = db.execute(
        "SELECT SUM(updated_at >= ?), SUM(updated_at >= ?), COUNT(*) FROM pushes WHERE state = 'failed'", [day, week]
    ).fetchone()
    invitations = db.execute(
        f"SELECT COUNT(*) FROM invitations WHERE state IN ({_in(OPEN_INVITATION_STATES)})", list(OPEN_INVITATION_STATES)
    ).fetchone()[0]
    # Unmatched students count only where setup is over: while Clever matches, low numbers are expected.
    unmatched = db.execute(
        f"SELECT COALESCE(SUM(unmatched_students), 0) FROM districts WHERE COALESCE(lms_state, '') != '' "
        f"AND lms_state NOT IN ({_in(SETUP_STATES)})",
        list(SETUP_STATES),
    ).fetchone()[0]
    return {
        "failed_last_day": int(failed[0] or 0),
        "failed_last_week": int(failed[1] or 0),
        "failed_total": int(failed[2] or 0),
        "open_invitations": int(invitations),
        "unmatched_students": int(unmatched),
    }


def open_invitations_by_district(db: sqlite_utils.Database) -> dict[str, int]:
    rows = db.execute(
        f"SELECT district_id, COUNT(*) FROM invitations WHERE state IN ({_in(OPEN_INVITATION_STATES)}) "
        "GROUP BY district_id",
        list(OPEN_INVITATION_STATES),
    ).fetchall()
    return {district_id: count for district_id, count in rows}


def district(db: sqlite_utils.Database, district_id: str) -> dict[str, Any] | None:
    """One district's cached row (without the raw JSON), or None if the cache does not know it."""
    row = db.execute(
        "SELECT * FROM districts WHERE id = ?", [district_id]
    ).fetchone()
    if row is None:
        return None
    names = [d[0] for d in db.execute("SELECT * FROM districts LIMIT 0").description]
    record = dict(zip(names, row, strict=True))
    record.pop("raw", None)
    return record


def district_names(db: sqlite_utils.Database) -> dict[str, str]:
    """id → name for every district, for pickers and for naming rows."""
    return {did: name for did, name in db.execute("SELECT id, name FROM districts ORDER BY name, id").fetchall()}


def history(db: sqlite_utils.Database, district_id: str | None = None) -> list[dict[str, Any]]:
    """Each pull's snapshot, oldest first (the input of `health.transitions` and the trend chart)."""
    where, params = ("WHERE district_id = ?", [district_id]) if district_id else ("", [])
    return list(db.query(f"SELECT * FROM district_history {where} ORDER BY district_id, pulled_at, id", params))


def _not_synced(
    alias: str,
    district_ids: Sequence[str],
    school_ids: Sequence[str],
    lms_types: Sequence[str],
    search: str,
    searched: Sequence[str],
) -> tuple[list[str], list[Any]]:
    """The WHERE clause shared by the unmatched users and unsynced sections lists."""
    where, params = [f"{alias}.synced_in_lms = 0"], []
    _filter(where, params, f"{alias}.district_id", district_ids)
    _filter(where, params, f"{alias}.school_id", school_ids)
    _filter(where, params, "d.lms_type", lms_types)
    if search.strip():
        where.append("(" + " OR ".join(f"{column} LIKE ?" for column in searched) + ")")
        params += [f"%{search.strip()}%"] * len(searched)
    return where, params


def unsynced_sections(
    db: sqlite_utils.Database,
    *,
    district_ids: Sequence[str] = (),
    school_ids: Sequence[str] = (),
    lms_types: Sequence[str] = (),
    search: str = "",
    limit: int | None = 1000,
) -> pd.DataFrame:
    """Sections Clever reports as not synced in the LMS, with their school, teacher and district."""
    where, params = _not_synced("s", district_ids, school_ids, lms_types, search,
                                ("s.name", "s.sis_id", "s.section_number"))
    sql = f"""
        SELECT s.id, s.name, s.section_number, s.sis_id, s.subject, s.grade, s.student_count,
               sc.name AS school, TRIM(COALESCE(t.first_name, '') || ' ' || COALESCE(t.last_name, '')) AS teacher,
               t.email AS teacher_email, s.district_id, d.name AS district, d.lms_type
        FROM sections s
        JOIN districts d ON d.id = s.district_id
        LEFT JOIN schools sc ON sc.id = s.school_id
        LEFT JOIN users t ON t.id = s.teacher_id
        WHERE {" AND ".join(where)}
        ORDER BY d.name, sc.name, s.name, s.id
    """
    return _limited(db, sql, params, limit)


def unmatched_users(
    db: sqlite_utils.Database,
    *,
    district_ids: Sequence[str] = (),
    roles: Sequence[str] = ("student", "teacher"),
    lms_types: Sequence[str] = (),
    school_ids: Sequence[str] = (),
    search: str = "",
    limit: int | None = 1000,
) -> pd.DataFrame:
    """Students and teachers Clever could not match to an LMS account (`synced_in_lms` false)."""
    where, params = _not_synced("u", district_ids, school_ids, lms_types, search,
                                ("u.first_name", "u.last_name", "u.email", "u.sis_id",
                                 "(u.first_name || ' ' || u.last_name)"))
    _filter(where, params, "u.role", roles)
    sql = f"""
        SELECT u.id, u.role, u.first_name, u.last_name, u.email, u.sis_id, u.grade,
               sc.name AS school, u.district_id, d.name AS district, d.lms_type
        FROM users u
        JOIN districts d ON d.id = u.district_id
        LEFT JOIN schools sc ON sc.id = u.school_id
        WHERE {" AND ".join(where)}
        ORDER BY d.name, u.role, u.last_name, u.first_name, u.id
    """
    return _limited(db, sql, params, limit)


def unmatched_counts(db: sqlite_utils.Database, district_ids: Sequence[str] = ()) -> pd.DataFrame:
    """Unmatched users per district and role, counted from the user rows (an index-only scan)."""
    where, params = ["synced_in_lms = 0"], []
    _filter(where, params, "district_id", district_ids)
    return _frame(
        db,
        f"SELECT district_id, role, COUNT(*) AS unmatched FROM users WHERE {' AND '.join(where)} "
        "GROUP BY district_id, role",
        params,
    )


def schools(db: sqlite_utils.Database, district_ids: Sequence[str] = ()) -> pd.DataFrame:
    where, params = [], []
    _filter(where, params, "district_id", district_ids)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _frame(db, f"SELECT id, name, district_id FROM schools {clause} ORDER BY name, id", params)


def _filter(where: list[str], params: list[Any], column: str, values: Sequence[Any]) -> None:
    if values:
        where.append(f"{column} IN ({_in(values)})")
        params.extend(values)


_PUSH_COLUMNS = """
    p.id, p.district_id, d.name AS district, d.lms_type, p.section_id, s.name AS section, p.assignment_key,
    p.student_id, TRIM(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')) AS student,
    u.email AS student_email, p.kind, p.state, p.category, p.last_status, p.last_message, p.attempts,
    p.source, p.created_at, p.updated_at
"""
_PUSH_JOINS = """
    FROM pushes p
    LEFT JOIN districts d ON d.id = p.district_id
    LEFT JOIN sections s ON s.id = p.section_id
    LEFT JOIN users u ON u.id = p.student_id
"""


def pushes(
    db: sqlite_utils.Database,
    *,
    states: Sequence[str] = (),
    district_ids: Sequence[str] = (),
    categories: Sequence[str] = (),
    limit: int | None = 1000,
) -> pd.DataFrame:
    """Grade pushes, newest change first, with district, section and student names joined in."""
    where, params = [], []
    _filter(where, params, "p.state", states)
    _filter(where, params, "p.district_id", district_ids)
    _filter(where, params, "p.category", categories)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {_PUSH_COLUMNS} {_PUSH_JOINS} {clause} ORDER BY p.updated_at DESC, p.id DESC"
    return _limited(db, sql, params, limit)


def failed_pushes(
    db: sqlite_utils.Database,
    *,
    district_ids: Sequence[str] = (),
    categories: Sequence[str] = (),
    ready_only: bool = False,
    limit: int | None = 1000,
) -> pd.DataFrame:
    """Failed and outcome-unknown pushes with names joined in and the cache-only readiness verdict.

    `ready` is 1 (looks ready), 0 (blocked) or None (only a retry can tell), from
    `lmsdata.pushes.readiness.preview`, the same check the retry gate runs fresh from Clever;
    `ready_reason`, `ready_owner`, `ready_next_step` and `waits_on_push` say why.
    """
    where, params = [f"p.state IN ({_in(FAILED_STATES)})"], list(FAILED_STATES)
    _filter(where, params, "p.district_id", district_ids)
    _filter(where, params, "p.category", categories)
    sql = f"SELECT {_PUSH_COLUMNS} {_PUSH_JOINS} WHERE {' AND '.join(where)} ORDER BY p.updated_at DESC, p.id DESC"
    frame = _with_readiness(db, _limited(db, sql, params, None if ready_only else limit))
    if ready_only:
        frame = frame[frame["ready"] == 1].head(limit) if limit else frame[frame["ready"] == 1]
    return frame.reset_index(drop=True)


def pushes_by_id(db: sqlite_utils.Database, push_ids: Sequence[int]) -> pd.DataFrame:
    """These pushes in any state (a search's results), newest first, with names and the readiness verdict
    (`failed_pushes`' columns)."""
    ids = list(push_ids) or [0]
    sql = (f"SELECT {_PUSH_COLUMNS} {_PUSH_JOINS} WHERE p.id IN ({_in(ids)}) "
           "ORDER BY p.created_at DESC, p.id DESC")
    return _with_readiness(db, _frame(db, sql, ids)).reset_index(drop=True)


_BULK_FROM = 20  # pushes of one district from which one read per table beats one per push (bench/ui.py)
_READINESS_COLUMNS = ("ready", "ready_reason", "ready_owner", "ready_next_step", "waits_on_push")
# what `readiness.check` reads of a push (no joined names: the category summary needs none)
_CHECKED = ("id", "district_id", "section_id", "assignment_key", "student_id", "kind", "state", "category",
            "last_status", "last_message", "created_at", "updated_at")


def _verdicts(db: sqlite_utils.Database, pushes: list[dict[str, Any]]) -> list[readiness.Readiness]:
    """Each push's cache-only verdict; a district with many pushes here reads its facts in bulk once."""
    by_district: dict[str, list[dict[str, Any]]] = {}
    for push in pushes:
        by_district.setdefault(push["district_id"], []).append(push)
    facts: dict[str, readiness.CacheFacts] = {}
    verdicts = []
    for push in pushes:
        district_id = push["district_id"]
        if district_id not in facts:
            listed = by_district[district_id]
            facts[district_id] = (readiness.DistrictSnapshot(db, district_id, listed) if len(listed) >= _BULK_FROM
                                  else readiness.CacheFacts(db, district_id))  # fmt: skip
        verdicts.append(readiness.check(push, facts[district_id]))
    return verdicts


def _with_readiness(db: sqlite_utils.Database, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each push's verdict in `_READINESS_COLUMNS`."""
    pushes = frame[list(_CHECKED)].astype(object).where(frame[list(_CHECKED)].notna(), None).to_dict("records") \
        if not frame.empty else []
    extra = pd.DataFrame.from_records(
        [(None if v.ready is None else int(v.ready), v.reason, v.owner, v.next_step, v.waits_on_push)
         for v in _verdicts(db, pushes)], columns=list(_READINESS_COLUMNS), index=frame.index)  # fmt: skip
    extra["ready"] = extra["ready"].astype("Int64")
    extra["waits_on_push"] = extra["waits_on_push"].astype("Int64")
    return pd.concat([frame, extra], axis=1)


def failed_by_category(db: sqlite_utils.Database) -> pd.DataFrame:
    """Failed (and outcome-unknown) pushes per category and effective owner: how many, how many look ready,
    in how many districts, and the next step.

    The owner is the readiness check's (as each push's row shows), not the category's static owner: a grade
    waiting on a create blocked by an unsynced section is Clever support's, a push that looks ready is ours.
    So one category can take several rows, one per owner; `next_step` is that owner's most common one.
    Reads only the pushes' own columns (no names joined, no order) straight into the check: it runs over
    every failed push of the cache on the Failed pushes page's first load (docs/dashboard.md).
    """
    cursor = db.execute(
        f"SELECT {', '.join(_CHECKED)} FROM pushes WHERE state IN ({_in(FAILED_STATES)})", list(FAILED_STATES))
    pushes = [dict(zip(_CHECKED, row, strict=True)) for row in cursor.fetchall()]
    columns = ["category", "owner", "pushes", "ready", "districts", "next_step", "oldest", "newest"]
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for push, verdict in zip(pushes, _verdicts(db, pushes), strict=True):
        key = (push["category"] or "unclassified", verdict.owner or "nobody")  # `check` always names one
        group = groups.setdefault(key, {"pushes": 0, "ready": 0, "districts": set(), "steps": Counter(), "times": []})
        group["pushes"] += 1
        group["ready"] += verdict.ready is True
        group["districts"].add(push["district_id"])
        group["steps"][verdict.next_step or ""] += 1
        if push["updated_at"]:
            group["times"].append(push["updated_at"])
    rows = [(category, owner, g["pushes"], g["ready"], len(g["districts"]), _most_common(g["steps"]),
             min(g["times"], default=None), max(g["times"], default=None))
            for (category, owner), g in groups.items()]  # fmt: skip
    rows.sort(key=lambda row: (-row[2], row[0], row[1]))  # most pushes first, then by category and owner
    return pd.DataFrame.from_records(rows, columns=columns)


def _most_common(steps: Counter[str]) -> str:
    """The most frequent next step (the first in order among equals); empty when no push names one."""
    if not any(steps):
        return ""
    return min(steps, key=lambda step: (-steps[step], step))


_VARIABLE_PARTS = re.compile(r"\b[0-9a-f]{24}\b|\b[0-9a-f-]{36}\b|\d+", re.I)


def error_signature(message: str | None) -> str:
    """Clever's message with ids and numbers blanked, so the same error groups across districts."""
    return _VARIABLE_PARTS.sub("#", " ".join((message or "(no message)").split()))


def failure_clusters(db: sqlite_utils.Database) -> pd.DataFrame:
    """The same error (operation, status, message) across districts and LMSs: an outage spans many
    districts, one district's setup problem spans one."""
    grouped = _frame(
        db,
        f"""
        SELECT p.kind, p.last_status, p.last_message, p.category, COALESCE(d.lms_type, '') AS lms_type,
               COUNT(*) AS pushes, MIN(p.updated_at) AS first_seen, MAX(p.updated_at) AS last_seen,
               GROUP_CONCAT(DISTINCT p.district_id) AS district_ids
        FROM pushes p LEFT JOIN districts d ON d.id = p.district_id
        WHERE p.state IN ({_in(FAILED_STATES)})
        GROUP BY 1, 2, 3, 4, 5
        """,
        FAILED_STATES,
        columns=("kind", "last_status", "last_message", "category", "lms_type", "pushes", "first_seen", "last_seen",
                 "district_ids"),
    )
    columns = ["error", "last_status", "kind", "category", "lms_types", "pushes", "districts", "first_seen",
               "last_seen", "district_ids"]
    if grouped.empty:
        return pd.DataFrame(columns=columns)
    grouped["error"] = grouped["last_message"].map(error_signature)
    grouped["district_ids"] = grouped["district_ids"].fillna("").str.split(",")
    grouped["last_status"] = grouped["last_status"].astype("Int64")  # empty, not 0, for a push with no answer
    clusters = grouped.groupby(["kind", "last_status", "error", "category"], dropna=False, sort=False).agg(
        pushes=("pushes", "sum"),
        first_seen=("first_seen", "min"),
        last_seen=("last_seen", "max"),
        lms_types=("lms_type", lambda types: ", ".join(sorted({t or "(none)" for t in types}))),
        district_ids=("district_ids", lambda lists: sorted({d for ids in lists for d in ids if d})),
    ).reset_index()
    clusters["districts"] = clusters["district_ids"].map(len)
    return clusters.sort_values(["districts", "pushes"], ascending=False)[columns].reset_index(drop=True)


def push(db: sqlite_utils.Database, push_id: int) -> dict[str, Any] | None:
    """One push with names joined in, plus its payload."""
    cursor = db.execute(f"SELECT {_PUSH_COLUMNS}, p.payload, p.superseded_by {_PUSH_JOINS} WHERE p.id = ?", [push_id])
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None


def push_attempts(db: sqlite_utils.Database, push_id: int) -> pd.DataFrame:
    return _frame(
        db,
        "SELECT id, started_at, trigger, http_status, message, outcome, duration_ms "
        "FROM push_attempts WHERE push_id = ? ORDER BY id",
        [push_id],
    )


def sync_runs(db: sqlite_utils.Database, limit: int = 100) -> pd.DataFrame:
    return _frame(db, "SELECT * FROM sync_runs ORDER BY id DESC LIMIT ?", [limit])


def sync_run_districts(db: sqlite_utils.Database, *, run_id: int | None = None, district_id: str | None = None,
                       limit: int = 2000) -> pd.DataFrame:
    """Per-district outcomes of one run, or one district's outcomes across runs (newest first)."""
    where, params = [], []
    if run_id is not None:
        where.append("r.run_id = ?")
        params.append(run_id)
    if district_id is not None:
        where.append("r.district_id = ?")
        params.append(district_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _frame(
        db,
        f"""
        SELECT r.run_id, r.district_id, d.name AS district, r.mode, r.outcome, r.started_at, r.finished_at,
               r.duration_s, r.requests, r.records, r.changes, r.error
        FROM sync_run_districts r LEFT JOIN districts d ON d.id = r.district_id
        {clause} ORDER BY r.run_id DESC, r.outcome DESC, d.name LIMIT ?
        """,
        [*params, limit],
    )


def events(db: sqlite_utils.Database, *, district_id: str | None = None, limit: int = 500) -> pd.DataFrame:
    """Clever events received, newest first."""
    clause, params = ("WHERE e.district_id = ?", [district_id]) if district_id else ("", [])
    return _frame(
        db,
        f"""
        SELECT e.id, e.created, e.type, e.object_id, e.district_id, d.name AS district, e.previous_attributes,
               e.received_at, e.sync_run_id
        FROM events e LEFT JOIN districts d ON d.id = e.district_id
        {clause} ORDER BY e.created DESC, e.id DESC LIMIT ?
        """,
        [*params, limit],
    )


def audit_log(db: sqlite_utils.Database, *, actions: Sequence[str] = (), actors: Sequence[str] = (),
              search: str = "", limit: int = 1000) -> pd.DataFrame:
    """Newest first; `search` looks in the target, parameters and detail."""
    where, params = [], []
    _filter(where, params, "action", actions)
    _filter(where, params, "actor", actors)
    if search.strip():
        where.append("(target LIKE ? OR params LIKE ? OR detail LIKE ?)")
        params += [f"%{search.strip()}%"] * 3
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _frame(db, f"SELECT * FROM audit_log {clause} ORDER BY id DESC LIMIT ?", [*params, limit])


def audit_choices(db: sqlite_utils.Database, actor: str | None = None) -> dict[str, list[str]]:
    """The actions and actors that occur (in one actor's entries, when given), for the audit page's filters."""
    clause, params = ("WHERE actor = ?", [actor]) if actor else ("", [])
    return {
        "actions": [r[0] for r in db.execute(f"SELECT DISTINCT action FROM audit_log {clause} ORDER BY 1", params)],
        "actors": [r[0] for r in db.execute(f"SELECT DISTINCT actor FROM audit_log {clause} ORDER BY 1", params)],
    }
