"""One district's story in one stream, newest first: what Clever reported, what we sent, what people did.

Each source (sync runs, district history, pushes, invitations, case notes, alerts, the audit log)
is read with its own small indexed query, newest first and limited; `merge` puts them in one order
and filters by kind. A case note keeps its text exactly as typed: the UI shows it as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlite_utils

from lmsdata import queries
from lmsdata.health import transitions
from lmsdata.pushes.taxonomy import Category
from lmsdata.wording import plural

# Kinds in the order used to break a tie of timestamps (the more basic fact first).
KINDS = ("sync", "state", "push", "invitation", "fix_request", "case", "note", "alert", "audit")
LABELS = {"sync": "sync", "state": "LMS state and matching", "push": "pushes", "invitation": "invitations",
          "fix_request": "fix requests", "case": "case changes", "note": "notes", "alert": "alerts",
          "audit": "other audit entries"}  # fmt: skip
LIMIT = 300


@dataclass(frozen=True)
class Entry:
    at: str  # ISO-8601 UTC, as the cache stores it
    kind: str  # one of KINDS
    summary: str
    who: str = ""  # the actor, author or "Clever" / "worker"
    worse: bool = False  # a regression, a failure, an alert opening


def merge(streams: Iterable[Iterable[Entry]], *, kinds: Sequence[str] = (), limit: int = LIMIT) -> list[Entry]:
    """Every stream's entries in one list, newest first (ties: by `KINDS` order, then as given);
    only `kinds` when given; at most `limit`."""
    wanted = set(kinds) or set(KINDS)
    picked = [(n, entry) for n, entry in enumerate(e for stream in streams for e in stream) if entry.kind in wanted]
    rank = {kind: i for i, kind in enumerate(KINDS)}
    picked.sort(key=lambda item: (rank.get(item[1].kind, len(KINDS)), item[0]))
    picked.sort(key=lambda item: item[1].at or "", reverse=True)  # stable: ties keep the order above
    return [entry for _, entry in picked[:limit]]


def district_timeline(db: sqlite_utils.Database, district_id: str, *, kinds: Sequence[str] = (),
                      limit: int = LIMIT) -> list[Entry]:
    """The district's stream; each source is only read when its kind is wanted."""
    readers: dict[str, Callable[[sqlite_utils.Database, str, int], list[Entry]]] = {
        "sync": _syncs, "state": _states, "push": _pushes, "invitation": _invitations, "note": _notes,
        "alert": _alerts, "audit": _audit,  # the audit reader yields case, fix_request and audit entries
    }  # fmt: skip
    wanted = set(kinds) or set(KINDS)
    streams = [read(db, district_id, limit) for kind, read in readers.items()
               if kind in wanted or (kind == "audit" and wanted & {"case", "fix_request"})]
    return merge(streams, kinds=kinds, limit=limit)


def _rows(db: sqlite_utils.Database, sql: str, params: Sequence[object]) -> list[dict]:  # type: ignore[type-arg]
    return list(db.query(sql, list(params)))


def _syncs(db: sqlite_utils.Database, district_id: str, limit: int) -> list[Entry]:
    found = []
    for row in _rows(db, "SELECT run_id, mode, outcome, started_at, finished_at, changes, error "
                         "FROM sync_run_districts WHERE district_id = ? ORDER BY run_id DESC LIMIT ?",
                     [district_id, limit]):  # fmt: skip
        failed = row["outcome"] == "failed"
        what = (f"failed: {row['error']}" if failed else
                f"{row['outcome']}, {plural(row['changes'] or 0, 'change')}")
        found.append(Entry(row["finished_at"] or row["started_at"], "sync",
                           f"Sync run {row['run_id']} ({row['mode']}) {what}", "", failed))
    return found


def _states(db: sqlite_utils.Database, district_id: str, limit: int) -> list[Entry]:
    changes = transitions(queries.history(db, district_id))
    return [Entry(c.at, "state", c.summary, "Clever", c.regression) for c in reversed(changes[-limit:])]


def _pushes(db: sqlite_utils.Database, district_id: str, limit: int) -> list[Entry]:
    """Failed attempts per day and answer, and pushes sent after an earlier failure (recovered).

    Clever's messages are left out (one may name a student); the Failed pushes page shows them masked."""
    failed = _rows(db, """
        SELECT substr(a.started_at, 1, 10) AS day, a.http_status, MAX(a.started_at) AS at,
               COUNT(DISTINCT a.push_id) AS pushes, GROUP_CONCAT(DISTINCT p.category) AS categories
        FROM pushes p JOIN push_attempts a ON a.push_id = p.id
        WHERE p.district_id = ? AND a.outcome IN ('failed', 'unknown')
        GROUP BY day, a.http_status ORDER BY at DESC LIMIT ?""", [district_id, limit])
    recovered = _rows(db, """
        SELECT substr(a.started_at, 1, 10) AS day, MAX(a.started_at) AS at, COUNT(DISTINCT a.push_id) AS pushes
        FROM pushes p JOIN push_attempts a ON a.push_id = p.id
        WHERE p.district_id = ? AND a.outcome = 'sent' AND EXISTS (
            SELECT 1 FROM push_attempts b WHERE b.push_id = a.push_id AND b.id < a.id
            AND b.outcome IN ('failed', 'unknown'))
        GROUP BY day ORDER BY at DESC LIMIT ?""", [district_id, limit])
    found = []
    for row in failed:
        answer = f"HTTP {row['http_status']}" if row["http_status"] is not None else "no answer"
        labels = sorted(_label(slug) for slug in row["categories"].split(",")) if row["categories"] else []
        now = f"; still failed: {', '.join(labels)}" if labels else ""
        found.append(Entry(row["at"], "push", f"{plural(row['pushes'], 'push')} failed on {row['day']} "
                                              f"({answer}{now})", "", True))
    found += [Entry(row["at"], "push", f"{plural(row['pushes'], 'push')} recovered on {row['day']} (sent after a "
                                       "failure)") for row in recovered]
    return found


def _label(slug: str) -> str:
    try:
        return Category.from_slug(slug).label
    except ValueError:
        return slug


def _invitations(db: sqlite_utils.Database, district_id: str, limit: int) -> list[Entry]:
    found = []
    for row in _rows(db, "SELECT id, email, state, error, actor, created_at, sent_at, accepted_at, cancelled_at "
                         "FROM invitations WHERE district_id = ? ORDER BY id DESC LIMIT ?", [district_id, limit]):
        who = row["actor"] or ""
        if row["state"] == "failed":
            found.append(Entry(row["created_at"], "invitation",
                               f"Invitation {row['id']} to {row['email']} failed: {row['error']}", who, True))
        else:
            found.append(Entry(row["sent_at"] or row["created_at"], "invitation",
                               f"Invitation {row['id']} sent to {row['email']}", who))
        if row["accepted_at"]:
            found.append(Entry(row["accepted_at"], "invitation", f"Invitation {row['id']} accepted: LMS Connect "
                                                                 "authorized", "Clever"))
        if row["cancelled_at"]:
            found.append(Entry(row["cancelled_at"], "invitation", f"Invitation {row['id']} cancelled", who))
    return found


def _notes(db: sqlite_utils.Database, district_id: str, limit: int) -> list[Entry]:
    return [Entry(row["at"], "note", row["body"], row["author"])
            for row in _rows(db, "SELECT at, author, body FROM case_notes WHERE subject = ? ORDER BY at DESC LIMIT ?",
                             [district_id, limit])]


def _alerts(db: sqlite_utils.Database, district_id: str, limit: int) -> list[Entry]:
    found = []
    for row in _rows(db, "SELECT id, rule, detail, opened_at, resolved_at, resolution FROM alerts WHERE subject = ? "
                         "ORDER BY id DESC LIMIT ?", [district_id, limit]):
        found.append(Entry(row["opened_at"], "alert", f"Alert {row['rule']} opened: {row['detail']}", "worker", True))
        if row["resolved_at"]:
            found.append(Entry(row["resolved_at"], "alert",
                               f"Alert {row['rule']} resolved: {row['resolution'] or 'condition gone'}", "worker"))
    return found


def _audit(db: sqlite_utils.Database, district_id: str, limit: int) -> list[Entry]:
    """Audit entries about the district; a case change is `case`, a fix request `fix_request`, a note's
    entry is left out (the note itself is in the stream)."""
    found = []
    for row in _rows(db, "SELECT at, actor, action, params, outcome, detail FROM audit_log WHERE target = ? "
                         "ORDER BY id DESC LIMIT ?", [district_id, limit]):
        action = row["action"]
        if action == "case-note":
            continue
        kind = "case" if action.startswith("case-") else "fix_request" if action.startswith("fix") else "audit"
        detail = f": {row['detail']}" if row["detail"] else ""
        outcome = "" if row["outcome"] == "ok" else f" ({row['outcome']}{detail})"
        found.append(Entry(row["at"], kind, f"{action}{_params(row['params'])}{outcome}", row["actor"],
                           row["outcome"] != "ok"))
    return found


def _params(text: str | None) -> str:
    """An audit entry's parameters as `: key=value, ...` (empty when there are none)."""
    try:
        params = json.loads(text or "{}")
    except ValueError:
        return ""
    if not isinstance(params, dict) or not params:
        return ""
    return ": " + ", ".join(f"{key}={'none' if value is None else value}" for key, value in params.items())
