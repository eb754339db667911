"""Fix requests: ask a district to fix what keeps its grades out of the LMS, then track each item.

From the district's live problems (unmatched students and teachers, unsynced sections) `preview`
builds the items, each with a likely reason (`likely_reason`, one function). `create` mails them to
the district contact with the list attached as CSV (through `csvsafe`, unmasked: it is the
district's own data). After every sync `refresh` marks the items the cache now shows fixed and closes
a request when all are; `remind` mails only what is still open; `close` ends one by hand.

Acting needs the operator role (`Permission.CASEWORK`, checked here); every action, refusals and
failed sends included, is written to the audit log in the same transaction as the change it records.
The Schoology "student never opened the app" problem is not listed: the cache cannot see an LTI
launch (docs/casework.md).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

import pandas as pd
import sqlite_utils

from lmsdata import audit, inputs, queries
from lmsdata.access import Actor, Permission
from lmsdata.config import Settings
from lmsdata.csvsafe import write_rows
from lmsdata.db import bump_data_version, connect, within_transaction, write_transaction
from lmsdata.invitations import SENDING_GRACE, InvitationError, validate_email
from lmsdata.mail import Mailer, MailError, one_line, wrap
from lmsdata.pushes.log import iso
from lmsdata.pushes.taxonomy import Category
from lmsdata.wording import lms_name, plural

STATES = ("sending", "open", "failed", "closed")
KINDS = ("student", "teacher", "section")
MAX_MESSAGE_CHARS = 4000
BODY_ITEMS = 50  # items listed in the mail's text; the CSV always has every one
ITEM_FIELDS = ("kind", "object_id", "name", "email", "sis_id", "school", "teacher", "reason_code", "reason")
CSV_COLUMNS = ("kind", "clever_id", "name", "email", "sis_id", "school", "teacher", "likely_reason")
DEFAULT_MESSAGE = (
    "Clever LMS Connect could not match the students, teachers and sections below to accounts and "
    "courses in your LMS, so grades from our app cannot reach their gradebooks. Could you fix them? "
    "The attached CSV lists each one with the likely reason; most are fixed in your SIS (a missing "
    "e-mail or SIS id) or in the LMS (an account or course that does not exist yet)."
)
INTERRUPTED = "Sending was interrupted; the e-mail may or may not have gone out. Send a new request if needed."


class FixRequestError(ValueError):
    """The request cannot be made or changed; the message says why and what to do instead."""


# ---------------------------------------------------------------------------------------------
# Verdicts: why an item is likely broken, and whether the cache shows it fixed


@dataclass(frozen=True)
class Reason:
    code: str  # no_email | other_domain | no_sis_id | name_differs | not_found | section_not_synced | not_launched
    text: str  # the sentence the district reads


SECTION_NOT_SYNCED = Reason(
    "section_not_synced",
    "Clever could not link this section to an LMS course: check that the course exists in the LMS with "
    "this section's SIS id and that its teacher is matched.",
)


NOT_LAUNCHED = Reason(
    "not_launched",
    "Has not opened our app from Schoology yet, and Schoology accepts a grade only after that: ask the "
    "teacher to have the student open the app once from the Schoology course.",
)
LAUNCH_CATEGORY = Category.SCHOOLOGY_NOT_LAUNCHED.slug


def likely_reason(
    *,
    email: str | None,
    sis_id: str | None,
    usual_domain: str | None,
    roster_name: str | None = None,
    lms_account_name: str | None = None,
) -> Reason:
    """Why Clever most likely found no LMS account for this student or teacher (first rule that applies).

    Clever matches by e-mail or SIS id and says nothing about why a match failed, so this is the
    district's best lead, not a diagnosis. The LMS account's name is passed only when it is known
    (the cache never knows it today).
    """
    address = (email or "").strip()
    if not address:
        return Reason("no_email", "No e-mail address in Clever: add it in your SIS so Clever can match the "
                                  "LMS account by e-mail.")
    domain = one_line(address.rsplit("@", 1)[1].lower()) if "@" in address else ""
    usual = (usual_domain or "").strip().lower()
    if usual and domain != usual:
        return Reason("other_domain", f"The e-mail's domain ({domain or 'none'}) is not the district's usual "
                                      f"{usual}: the LMS account probably uses another address.")
    if not (sis_id or "").strip():
        return Reason("no_sis_id", "No SIS id in Clever: add it in your SIS so Clever can match on it.")
    if lms_account_name is not None and _name_key(lms_account_name) != _name_key(roster_name):
        return Reason("name_differs", f"The LMS account is named {one_line(lms_account_name)!r}, the roster "
                                      f"says {one_line(roster_name)!r}: correct one of them.")
    return Reason("not_found", "Not found in the LMS: create the LMS account with this e-mail or SIS id, or "
                               "correct them in your SIS.")


def _name_key(name: str | None) -> str:
    return " ".join((name or "").lower().split())


def item_status(reason_code: str, present: bool, synced_in_lms: int | None, launch_failures: int | None) -> str:
    """The one verdict on a tracked item: "gone" when it left Clever's roster (nothing left to fix);
    "fixed" once Clever reports it synced in the LMS or, for a student who had not opened the app in
    Schoology, once none of their pushes is still failed for that reason; else "open"."""
    if not present:
        return "gone"
    if reason_code == NOT_LAUNCHED.code:
        return "fixed" if not launch_failures else "open"
    return "fixed" if synced_in_lms == 1 else "open"


def progress(fixed: int, total: int) -> str:
    """'9 of 14 fixed'."""
    return f"{fixed:,} of {total:,} fixed"


# ---------------------------------------------------------------------------------------------
# Building the items


def usual_domains(db: sqlite_utils.Database, district_id: str) -> dict[str, str]:
    """The most common e-mail domain per role (student, teacher) among the district's users."""
    rows = db.execute(
        "SELECT role, lower(substr(email, instr(email, '@') + 1)) AS domain, COUNT(*) AS n FROM users "
        "WHERE district_id = ? AND role IN ('student', 'teacher') AND instr(COALESCE(email, ''), '@') > 0 "
        "GROUP BY role, domain ORDER BY role, n DESC, domain",
        [district_id],
    ).fetchall()
    usual: dict[str, str] = {}
    for role, domain, _ in rows:
        usual.setdefault(role, domain)
    return usual


def live_items(db: sqlite_utils.Database, district_id: str) -> list[dict[str, Any]]:
    """Every item the district could fix today: unmatched students and teachers, then unsynced sections."""
    domains = usual_domains(db, district_id)
    items = []
    users = queries.unmatched_users(db, district_ids=[district_id], limit=None)
    for user in _records(users):
        name = one_line(f"{user['first_name'] or ''} {user['last_name'] or ''}")
        reason = likely_reason(email=user["email"], sis_id=user["sis_id"], usual_domain=domains.get(user["role"]),
                               roster_name=name)
        items.append({"kind": user["role"], "object_id": user["id"], "name": name, "email": user["email"],
                      "sis_id": user["sis_id"], "school": user["school"], "teacher": None,
                      "reason_code": reason.code, "reason": reason.text})
    launches = db.execute(
        "SELECT u.id, u.first_name, u.last_name, u.email, u.sis_id, sc.name FROM users u "
        "LEFT JOIN schools sc ON sc.id = u.school_id WHERE u.id IN (SELECT student_id FROM pushes "
        "WHERE district_id = ? AND state = 'failed' AND category = ?) AND COALESCE(u.synced_in_lms, 1) != 0 "
        "ORDER BY u.last_name, u.first_name, u.id", [district_id, LAUNCH_CATEGORY]).fetchall()
    for uid, first, last, email, sis_id, school in launches:  # matched, but Schoology refuses their grades
        items.append({"kind": "student", "object_id": uid, "name": one_line(f"{first or ''} {last or ''}"),
                      "email": email, "sis_id": sis_id, "school": school, "teacher": None,
                      "reason_code": NOT_LAUNCHED.code, "reason": NOT_LAUNCHED.text})
    sections = queries.unsynced_sections(db, district_ids=[district_id], limit=None)
    for section in _records(sections):
        items.append({"kind": "section", "object_id": section["id"], "name": one_line(section["name"]),
                      "email": section["teacher_email"], "sis_id": section["sis_id"], "school": section["school"],
                      "teacher": one_line(section["teacher"]), "reason_code": SECTION_NOT_SYNCED.code,
                      "reason": SECTION_NOT_SYNCED.text})
    return items


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A query's rows with SQL NULL as None (pandas reads a NULL text cell as NaN)."""
    return list(frame.astype(object).where(frame.notna(), None).to_dict("records"))


def preview(db_path: str | Path, district_id: str) -> dict[str, Any]:
    """What `create` would send now: the district, its contact address, the default message and the items."""
    with connect(db_path) as db:
        district = queries.district(db, district_id)
        if district is None:
            raise FixRequestError(f"No district with id {district_id!r} in the cache; check the id or run a sync.")
        return {"district": district, "to": district.get("contact_email") or "", "message": DEFAULT_MESSAGE,
                "items": live_items(db, district_id)}


# ---------------------------------------------------------------------------------------------
# The e-mail


def csv_bytes(items: Sequence[Mapping[str, Any]]) -> bytes:
    """The list the district opens in a spreadsheet: every cell safe from formulas (`csvsafe`)."""
    out = io.StringIO()
    write_rows(out, ({**item, "clever_id": item["object_id"], "likely_reason": item["reason"]} for item in items),
               CSV_COLUMNS)
    return out.getvalue().encode()


def compose(
    district: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    request_id: int,
    email: str,
    message: str | None,
    mail_from: str,
    reminder: bool = False,
    total: int | None = None,
) -> EmailMessage:
    """The request (or a reminder listing only `items`, the open ones): plain text, with the CSV attached."""
    sender_name, sender_address = parseaddr(mail_from)
    sender = sender_name or sender_address
    to_contact = email.strip().lower() == (district.get("contact_email") or "").strip().lower()
    contact = one_line(district.get("contact_name")) if to_contact else ""
    name = one_line(district.get("name")) or str(district["id"])
    counts = Counter((item["kind"], item["reason_code"] == NOT_LAUNCHED.code) for item in items)
    summary = [f"- {plural(counts[key], key[0])} {problem}" for key, problem in (
        (("student", False), "not matched"), (("teacher", False), "not matched"), (("section", False), "not synced"),
        (("student", True), "yet to open the app in Schoology")) if counts[key]]
    paragraphs = [f"Hello {contact.split()[0]}," if contact else "Hello,"]
    if reminder:
        done = (total or len(items)) - len(items)
        paragraphs.append(f"A reminder of our fix request #{request_id} for {name}: {progress(done, total or 0)} "
                          f"so far, thank you. What is still open is listed below and in the attached CSV.")
    if message and message.strip():
        paragraphs.append(message.strip())
    lms = lms_name(district.get("lms_type"))
    if not reminder:
        paragraphs.append(f"What Clever reports today about {name} and your LMS{f' ({lms})' if lms else ''}:")
    listing = [_item_line(n, item) for n, item in enumerate(items[:BODY_ITEMS], 1)]
    if len(items) > BODY_ITEMS:
        listing.append(f"... and {plural(len(items) - BODY_ITEMS, 'more item')} in the attached CSV.")
    closing = [
        "We check again after every sync from Clever and mark each item fixed as soon as Clever reports it "
        "matched; we will only write again about what is still open.",
        f"Reply to this e-mail{f' or write to {sender_address}' if sender_address else ''} with any question.",
        f"{sender}",
        f"(Clever district id: {district['id']}; fix request #{request_id})",
    ]
    body = "\n\n".join([*(wrap(p) for p in paragraphs), "\n".join(summary), "\n".join(listing),
                        *(wrap(p) for p in closing)])
    msg = EmailMessage()
    noun = plural(len(items), "item")
    msg["Subject"] = (f"Reminder: {noun} still to fix for LMS Connect in {name}" if reminder
                      else f"{noun} to fix for LMS Connect in {name}")
    msg["From"] = mail_from
    msg["To"] = formataddr((contact, email))
    msg["Reply-To"] = mail_from
    msg["X-LMSData-Fix-Request"] = str(request_id)
    msg.set_content(body + "\n")
    msg.add_attachment(csv_bytes(items), maintype="text", subtype="csv",
                       filename=f"fix-request-{request_id}-{re.sub(r'[^A-Za-z0-9_-]', '', str(district['id']))}.csv")
    return msg


def _item_line(n: int, item: Mapping[str, Any]) -> str:
    """One plain-text line per item; every value from Clever is folded onto one line first."""
    parts = (item.get("name"), item.get("teacher") and f"teacher {item['teacher']}",
             item.get("sis_id") and f"SIS id {item['sis_id']}") if item["kind"] == "section" else (
             item.get("name"), item.get("email"), item.get("sis_id") and f"SIS id {item['sis_id']}")
    who = " · ".join(one_line(str(v)) for v in parts if v)
    return wrap(f"{item['kind']} {who or item['object_id']}: {one_line(item['reason'])}", f"{n}. ")


# ---------------------------------------------------------------------------------------------
# Actions


def create(
    db_path: str | Path,
    district_id: str,
    *,
    actor: Actor,
    mailer: Mailer,
    email: str | None = None,
    message: str | None = None,
    mail_from: str = Settings.mail_from,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Mail the district its live problems and start tracking them; returns the request (open or failed).

    `email` defaults to the district contact, `message` to DEFAULT_MESSAGE ("" sends none).

    Raises FixRequestError (audited as refused) for an unknown district, a bad address, a district
    with nothing to fix or one that already has an open request.
    """
    params: dict[str, Any] = {"email": email}
    who = audit.authorize(db_path, actor, Permission.CASEWORK, action="fix-request", target=district_id,
                          params=params)
    with _refusals(db_path, who, "fix-request", district_id, params), connect(db_path) as db:
        with write_transaction(db):
            district = queries.district(db, district_id)
            if district is None:
                raise FixRequestError(f"No district with id {district_id!r} in the cache; check the id or run a sync.")
            for other in db.query("SELECT id, state FROM fix_requests WHERE district_id = ? AND state IN "
                                  "('sending', 'open')", [district_id]):
                raise FixRequestError(f"{district['name']} already has an open fix request (#{other['id']}, "
                                      f"{other['state']}); remind or close it instead.")
            items = live_items(db, district_id)
            if not items:
                raise FixRequestError(f"{district['name']} has nothing to fix: every student, teacher and section "
                                      "is matched.")
            address = _address(email or district.get("contact_email"), district)
            params["email"] = address
            text = DEFAULT_MESSAGE if message is None else _message(message)
            _mail_from(mail_from)
            request_id = db.execute(
                "INSERT INTO fix_requests (district_id, email, message, state, actor, created_at) "
                "VALUES (?, ?, ?, 'sending', ?, ?)", [district_id, address, text, who, iso(now or _now())],
            ).lastrowid
            db["fix_request_items"].insert_all(
                [{"request_id": request_id, **{k: item[k] for k in ITEM_FIELDS}} for item in items])
        # Committed as "sending" before the mail goes out: nobody starts a second request meanwhile.
        params.update(request_id=request_id, items=len(items), via=mailer.display)
        error = _send(lambda: compose(district, items, request_id=request_id, email=address, message=text,
                                      mail_from=mail_from), mailer)
        with write_transaction(db):
            db.execute("UPDATE fix_requests SET state = ?, sent_at = ?, error = ? WHERE id = ?",
                       ["failed" if error else "open", None if error else iso(now or _now()), error, request_id])
            _record(db, who, "fix-request", district_id, "failed" if error else "ok", params, error)
        return _existing(db, request_id)


def remind(
    db_path: str | Path,
    request_id: int,
    *,
    actor: Actor,
    mailer: Mailer,
    message: str | None = None,
    mail_from: str = Settings.mail_from,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Mail the district the items still open (brought up to date first); returns the request with
    `reminder_error` (None when the reminder went out)."""
    params: dict[str, Any] = {"request_id": request_id}
    target = _district_of(db_path, request_id)
    who = audit.authorize(db_path, actor, Permission.CASEWORK, action="fix-request-remind", target=target,
                          params=params)
    with _refusals(db_path, who, "fix-request-remind", target, params), connect(db_path) as db:
        refresh(db, now=now)
        request = _existing(db, request_id)
        if request["state"] != "open":
            raise FixRequestError(f"Fix request #{request_id} is {request['state']}; only an open request gets "
                                  "a reminder.")
        text = _message(message)
        _mail_from(mail_from)
        district = queries.district(db, request["district_id"]) or {"id": request["district_id"]}
        items = [i for i in request["item_rows"] if not i["resolved_at"]]
        params.update(email=request["email"], items=len(items), via=mailer.display)
        error = _send(lambda: compose(district, items, request_id=request_id, email=request["email"],
                                      message=text, mail_from=mail_from, reminder=True,
                                      total=request["items"]), mailer)
        with write_transaction(db):
            if error is None:
                db.execute("UPDATE fix_requests SET reminders = reminders + 1, last_reminded_at = ? WHERE id = ?",
                           [iso(now or _now()), request_id])
            _record(db, who, "fix-request-remind", request["district_id"], "failed" if error else "ok", params, error)
        return {**_existing(db, request_id), "reminder_error": error}


def close(db_path: str | Path, request_id: int, *, actor: Actor, now: datetime | None = None) -> dict[str, Any]:
    """End an open (or failed) request by hand: the district fixed it another way, or it no longer matters."""
    params: dict[str, Any] = {"request_id": request_id}
    target = _district_of(db_path, request_id)
    who = audit.authorize(db_path, actor, Permission.CASEWORK, action="fix-request-close", target=target,
                          params=params)
    with _refusals(db_path, who, "fix-request-close", target, params), connect(db_path) as db:
        with write_transaction(db):
            request = _existing(db, request_id)
            if request["state"] not in ("open", "failed"):
                raise FixRequestError(f"Fix request #{request_id} is {request['state']}; there is nothing to close.")
            db.execute("UPDATE fix_requests SET state = 'closed', closed_at = ?, closed_by = ?, "
                       "close_reason = 'closed by hand' WHERE id = ?", [iso(now or _now()), who, request_id])
            _record(db, who, "fix-request-close", request["district_id"], "ok",
                    {**params, "progress": request["progress"]}, None)
        return _existing(db, request_id)


def refresh(
    db: sqlite_utils.Database, *, district_id: str | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Resolve the items the cache now shows fixed, close requests with nothing left, and fail sends that
    never reported back. Sync calls it after each district's commit; idempotent and cheap (open items only).

    Joins the caller's transaction if one is open. Returns how many items were fixed or gone, and how
    many requests were closed or failed.
    """
    at = iso(now or _now())
    where, args = ("AND r.district_id = ?", [district_id]) if district_id else ("", [])
    rows = db.execute(
        "SELECT i.id, i.request_id, r.district_id, i.reason_code, "
        "CASE WHEN i.kind = 'section' THEN s.id IS NOT NULL ELSE u.id IS NOT NULL END, "
        "CASE WHEN i.kind = 'section' THEN s.synced_in_lms ELSE u.synced_in_lms END, "
        "CASE WHEN i.reason_code = ? THEN (SELECT COUNT(*) FROM pushes p WHERE p.district_id = r.district_id "
        "  AND p.state = 'failed' AND p.category = ? AND p.student_id = i.object_id) END "
        "FROM fix_request_items i JOIN fix_requests r ON r.id = i.request_id "
        "LEFT JOIN users u ON i.kind != 'section' AND u.id = i.object_id "
        "LEFT JOIN sections s ON i.kind = 'section' AND s.id = i.object_id "
        f"WHERE r.state = 'open' AND i.resolved_at IS NULL {where}", [NOT_LAUNCHED.code, LAUNCH_CATEGORY, *args],
    ).fetchall()
    resolved = [(item_id, request_id, did, status) for item_id, request_id, did, code, present, synced, failures
                in rows if (status := item_status(code, bool(present), synced, failures)) != "open"]
    grace = iso((now or _now()) - SENDING_GRACE)
    stuck = db.execute(f"SELECT r.id, r.district_id FROM fix_requests r WHERE r.state = 'sending' "
                       f"AND r.created_at <= ? {where}", [grace, *args]).fetchall()
    counts = {"fixed": 0, "gone": 0, "closed": 0, "failed": 0}
    if not resolved and not stuck:
        return counts
    with within_transaction(db):
        changed: dict[int, tuple[str, Counter[str]]] = {}
        for item_id, request_id, did, status in resolved:
            if db.execute("UPDATE fix_request_items SET resolved_at = ?, resolution = ? WHERE id = ? "
                          "AND resolved_at IS NULL", [at, status, item_id]).rowcount:
                counts[status] += 1
                changed.setdefault(request_id, (did, Counter()))[1][status] += 1
        for request_id, (did, found) in changed.items():
            done, total = db.execute("SELECT COUNT(resolved_at), COUNT(*) FROM fix_request_items "
                                     "WHERE request_id = ?", [request_id]).fetchone()
            detail = f"{progress(done, total)} ({', '.join(f'{n} {s}' for s, n in sorted(found.items()))} now)"
            _record(db, "system", "fix-request-progress", did, "ok", {"request_id": request_id}, detail)
            if done == total and db.execute(
                "UPDATE fix_requests SET state = 'closed', closed_at = ?, closed_by = 'system', "
                "close_reason = 'all fixed' WHERE id = ? AND state = 'open'", [at, request_id]
            ).rowcount:
                counts["closed"] += 1
                _record(db, "system", "fix-request-closed", did, "ok", {"request_id": request_id}, "All items fixed.")
        for request_id, did in stuck:
            if db.execute("UPDATE fix_requests SET state = 'failed', error = ? WHERE id = ? AND state = 'sending'",
                          [INTERRUPTED, request_id]).rowcount:
                counts["failed"] += 1
                _record(db, "system", "fix-request-interrupted", did, "ok", {"request_id": request_id}, INTERRUPTED)
    return counts


# ---------------------------------------------------------------------------------------------
# Reading


def list_requests(db: sqlite_utils.Database, *, district_id: str | None = None,
                  state: str | None = None) -> list[dict[str, Any]]:
    """Newest first, each with its district's name, `items`, `fixed` and `progress` ('9 of 14 fixed')."""
    where, args = [], []
    for column, value in (("r.district_id", district_id), ("r.state", state)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    return _rows(db, where, args)


def get(db_path: str | Path, request_id: int) -> dict[str, Any] | None:
    """One request with its `item_rows` (open ones first), or None."""
    with connect(db_path) as db:
        return _request(db, request_id)


def _rows(db: sqlite_utils.Database, where: list[str], args: list[Any]) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT r.*, d.name AS district_name, "
        "(SELECT COUNT(*) FROM fix_request_items i WHERE i.request_id = r.id) AS items, "
        "(SELECT COUNT(resolved_at) FROM fix_request_items i WHERE i.request_id = r.id) AS fixed "
        "FROM fix_requests r LEFT JOIN districts d ON d.id = r.district_id"
        + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY r.id DESC", args,
    )
    return [{**row, "progress": progress(row["fixed"], row["items"])} for row in rows]


def _request(db: sqlite_utils.Database, request_id: int) -> dict[str, Any] | None:
    rows = _rows(db, ["r.id = ?"], [request_id])
    if not rows:
        return None
    return {**rows[0], "item_rows": list(db.query(
        "SELECT * FROM fix_request_items WHERE request_id = ? ORDER BY resolved_at IS NOT NULL, id", [request_id]))}


# ---------------------------------------------------------------------------------------------
# Internals


def _now() -> datetime:
    return datetime.now(UTC)


def _address(address: str | None, district: Mapping[str, Any]) -> str:
    if not (address or "").strip():
        raise FixRequestError(f"{district['name']} has no contact e-mail in Clever; give an address.")
    try:
        return validate_email(address)
    except InvitationError as exc:
        raise FixRequestError(str(exc)) from None


def _message(message: str | None) -> str | None:
    text = (message or "").strip() or None
    if text and len(text) > MAX_MESSAGE_CHARS:
        raise FixRequestError(f"The message has {len(text):,} characters; keep it under {MAX_MESSAGE_CHARS:,}.")
    return text


def _mail_from(mail_from: str) -> None:
    try:
        inputs.header_text("MAIL_FROM", mail_from)
    except inputs.InputError as exc:
        raise FixRequestError(f"{exc}; fix MAIL_FROM and send again.") from None


def _send(build: Callable[[], EmailMessage], mailer: Mailer) -> str | None:
    """Compose and send; the error in words (redacted by MailError), or None when the server took it."""
    try:  # composing is inside: a header the mail library refuses is a failed send, not a crash
        mailer.send(build())
    except (MailError, ValueError) as exc:
        return str(exc)
    return None


def _existing(db: sqlite_utils.Database, request_id: int) -> dict[str, Any]:
    request = _request(db, request_id)
    if request is None:
        raise FixRequestError(f"Fix request #{request_id} does not exist; `lmsdata fix-request list` shows them.")
    return request


def _district_of(db_path: str | Path, request_id: int) -> str | None:
    """The request's district, the audit entry's target (None for an id that does not exist)."""
    with connect(db_path) as db:
        row = db.execute("SELECT district_id FROM fix_requests WHERE id = ?", [request_id]).fetchone()
    return row[0] if row else None


def _record(db: sqlite_utils.Database, actor: str, action: str, target: str | None, outcome: str,
            params: Mapping[str, Any], detail: str | None) -> None:
    audit.record(db, actor=actor, action=action, target=target, outcome=outcome,
                 params={k: v for k, v in params.items() if v is not None}, detail=detail)
    bump_data_version(db)


@contextlib.contextmanager
def _refusals(db_path: str | Path, actor: str, action: str, target: str | None,
              params: dict[str, Any]) -> Iterator[None]:
    """A FixRequestError raised inside is audited as "refused" (its own transaction) and raised again."""
    try:
        yield
    except FixRequestError as exc:
        with connect(db_path) as db, write_transaction(db):
            _record(db, actor, action, target, "refused", params, str(exc))
        raise

