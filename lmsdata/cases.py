"""Cases: who is on a district (or failure cluster), in which state, until when snoozed, with notes.

Only operators edit (checked here, not only in the UI); every change is audited in the same
transaction as the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from lmsdata.access import Actor, Permission
from lmsdata.audit import authorize, record
from lmsdata.db import bump_data_version, connect, utcnow
from lmsdata.health import urgency

STATES = ("open", "waiting on district", "waiting on Clever", "resolved")


class CaseError(ValueError):
    """Bad input for a case, in words a support person understands."""


def _ensure(db: Any, subject: str) -> None:
    now = utcnow()
    db.execute("INSERT OR IGNORE INTO cases (subject, state, opened_at, updated_at) VALUES (?, 'open', ?, ?)",
               [subject, now, now])


def _change(db_path: str | Path, actor: Actor, action: str, subject: str, **fields: Any) -> None:
    name = authorize(db_path, actor, Permission.CASEWORK, action=action, target=subject, params=fields)
    with connect(db_path) as db, db.conn:
        _ensure(db, subject)
        sets = ", ".join(f"{column} = ?" for column in fields)
        db.execute(f"UPDATE cases SET {sets}, updated_at = ? WHERE subject = ?",
                   [*fields.values(), utcnow(), subject])
        record(db, actor=name, action=action, target=subject, outcome="ok", params=fields)
        bump_data_version(db)


def assign(db_path: str | Path, actor: Actor, subject: str, assignee: str | None) -> None:
    """Give the case to a signed-in user (or nobody)."""
    _change(db_path, actor, "case-assign", subject, assignee=assignee)


def set_state(db_path: str | Path, actor: Actor, subject: str, state: str) -> None:
    if state not in STATES:
        raise CaseError(f"A case state is one of: {', '.join(STATES)}; not {state!r}.")
    _change(db_path, actor, "case-state", subject, state=state)


def snooze(db_path: str | Path, actor: Actor, subject: str, until: date | None) -> None:
    _change(db_path, actor, "case-snooze", subject, snoozed_until=until.isoformat() if until else None)


def set_ticket(db_path: str | Path, actor: Actor, subject: str, ticket_id: str | None) -> None:
    """Record the external ticket (Zendesk, Jira, Clever support) the case is tracked in."""
    _change(db_path, actor, "case-ticket", subject, ticket_id=(ticket_id or "").strip() or None)


def ticket_link(ticket_id: str | None, template: str | None) -> str | None:
    """The ticket's http(s) address from a configured template such as `https://x.zendesk.com/agent/tickets/{id}`.

    None when there is no ticket, no template, or the result would not be an http(s) link, so a
    ticket id can never become a `javascript:` or other link.
    """
    if not ticket_id or not template or "{id}" not in template:
        return None
    url = template.replace("{id}", quote(ticket_id, safe=""))
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def add_note(db_path: str | Path, actor: Actor, subject: str, body: str) -> None:
    """Notes are stored as typed and always shown as plain text."""
    if not body.strip():
        raise CaseError("A note needs some text.")
    name = authorize(db_path, actor, Permission.CASEWORK, action="case-note", target=subject)
    with connect(db_path) as db, db.conn:
        _ensure(db, subject)
        db.execute("INSERT INTO case_notes (subject, at, author, body) VALUES (?, ?, ?, ?)",
                   [subject, utcnow(), name, body])
        record(db, actor=name, action="case-note", target=subject, outcome="ok", params={"chars": len(body)})
        bump_data_version(db)


def get(db_path: str | Path, subject: str) -> dict[str, Any] | None:
    """The case with its notes, newest first; None when nobody has opened one."""
    with connect(db_path) as db:
        rows = list(db.query("SELECT * FROM cases WHERE subject = ?", [subject]))
        if not rows:
            return None
        case = dict(rows[0])
        case["notes"] = list(db.query(
            "SELECT at, author, body FROM case_notes WHERE subject = ? ORDER BY id DESC", [subject]))
        return case


def all_cases(db_path: str | Path) -> dict[str, dict[str, Any]]:
    """Every case by subject (without notes), for the queue."""
    with connect(db_path) as db:
        return {row["subject"]: dict(row) for row in db.query("SELECT * FROM cases")}


def _snoozed(case: Mapping[str, Any], today: date) -> bool:
    return bool(case.get("snoozed_until")) and str(case["snoozed_until"]) > today.isoformat()


def _needs_us(district: Mapping[str, Any]) -> bool:
    """Not healthy, and one of its live problems (any health reason, not only the first) is ours."""
    owners = {reason["owner"] for reason in district.get("reasons") or []} | {district["owner"]}
    return district["health"] != "healthy" and "partner" in owners


def queue(
    districts: Iterable[Mapping[str, Any]], cases: Mapping[str, Mapping[str, Any]], me: str, today: date
) -> list[dict[str, Any]]:
    """"My queue": my cases not resolved nor snoozed, then unassigned districts that need us.

    A district needs us when its health (`lmsdata.health.assess`, the `health`, `owner` and
    `reasons` columns of `lmsdata.status.district_rows`) is not healthy and one of its reasons is ours. Each part is
    ordered by urgency, then age: my cases by when they were opened, districts by their last LMS
    sync (never synced first), oldest first.
    """
    mine, waiting = [], []
    for district in districts:
        case = cases.get(district["id"]) or {}
        row = {**district, "assignee": case.get("assignee"), "state": case.get("state"),
               "snoozed_until": case.get("snoozed_until"), "opened_at": case.get("opened_at")}
        if case.get("assignee") == me:
            if case.get("state") != "resolved" and not _snoozed(case, today):
                mine.append(row)
        elif not case.get("assignee") and _needs_us(district) and not _snoozed(case, today):
            waiting.append(row)
    mine.sort(key=lambda r: (urgency(r["health"]), r["opened_at"] or ""))
    waiting.sort(key=lambda r: (urgency(r["health"]), r.get("last_lms_sync") or ""))
    return [{**r, "queue": "mine"} for r in mine] + [{**r, "queue": "unassigned"} for r in waiting]
