"""LMS Connect invitations: an e-mail to the district's contact, tracked in the cache until it ends.

Clever has no API for LMS Connect invitations (shared/clever-api.md §8): the only trace of an
accepted invitation is the district's `lms_state` leaving ""/null, which `refresh_states` watches
after every sync. States: sending → sent → accepted | expired | cancelled, or sending → failed.
"sending" exists only while the mail server is being talked to, so no database lock is held
during SMTP and two people cannot invite the same district at the same moment.

Every action, refused and failed ones included, is written to the audit log in the same
transaction as the state change it records. A signed-in actor needs the operator role; a refusal for
lack of it is audited before anything is read or sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata import audit, inputs
from lmsdata.access import Actor, Permission
from lmsdata.config import Settings
from lmsdata.db import bump_data_version, connect, within_transaction, write_transaction
from lmsdata.health import state_since
from lmsdata.mail import Mailer, MailError, one_line, wrap
from lmsdata.wording import possessive

STATES = ("sending", "sent", "failed", "accepted", "expired", "cancelled")
# A send that never reported back (the process died mid-SMTP) is marked failed after this long.
SENDING_GRACE = timedelta(minutes=15)
MAX_MESSAGE_CHARS = 2000


class InvitationError(ValueError):
    """The invitation cannot be made or changed; the message says why and what to do instead."""


# ---------------------------------------------------------------------------------------------
# E-mail addresses


_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_email(address: str | None) -> str:
    """One plain address (no display name, no list), checked well enough to catch typos.

    Returns it trimmed, with the domain in lower case.
    """
    text = (address or "").strip()
    if not text:
        raise InvitationError("An e-mail address is required.")
    problem = _email_problem(text)
    if problem:
        raise InvitationError(f"{text!r} is not a valid e-mail address: {problem}.")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _email_problem(text: str) -> str | None:
    if any(ch in text for ch in ",;<>\r\n\t ") or parseaddr(text)[1] != text:
        return "give a single address such as it@district.k12.us, without a name or a list"
    if text.count("@") != 1:
        return "it needs exactly one @"
    local, domain = text.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.match(local):
        return "the part before @ is not allowed in an address"
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "the domain after @ is not a valid domain name"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253 or not all(_DOMAIN_LABEL.match(x) for x in labels):
        return "the domain after @ is not a valid domain name (for example district.k12.us)"
    if labels[-1].isdigit():
        return "the domain after @ must be a name, not an IP address"
    if len(text) > 254:
        return "it is longer than 254 characters"
    return None


# ---------------------------------------------------------------------------------------------
# The e-mail


def can_invite(district: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether an invitation may go to this district, and why not: the one verdict for the page's
    button and for `invite`. A district with any lms_state has LMS Connect set up already."""
    state = (district.get("lms_state") or "").strip()
    if state:
        return False, (
            f"{district.get('name') or district.get('id')} is already set up for LMS Connect (lms_state {state}); "
            "no invitation is needed. Its health shows the next step."
        )
    return True, "LMS Connect is not set up for this district."


def compose(
    district: dict[str, Any], *, email: str, message: str | None, mail_from: str, expires: datetime
) -> EmailMessage:
    """The invitation e-mail: what LMS Connect is, how to connect, who to ask."""
    sender_name, sender_address = parseaddr(mail_from)
    sender = sender_name or sender_address
    write_to = f" or write to {sender_address}" if sender_address else ""
    # Greet the Clever contact by name only when the invitation goes to the contact's own address.
    to_contact = email.strip().lower() == (district.get("contact_email") or "").strip().lower()
    contact = one_line(district.get("contact_name")) if to_contact else ""
    name = one_line(district.get("name")) or district["id"]
    paragraphs = [
        f"Hello {contact.split()[0]}," if contact else "Hello,",
        *([message.strip()] if message and message.strip() else []),
        f"{sender} invites {name} to connect your learning management system (LMS) to Clever with Clever LMS Connect.",
        "What LMS Connect does: Clever links your LMS (Canvas, Schoology or Google Classroom) to the apps "
        "you already roster through Clever. Once it is connected, assignments and grades from our app go "
        "straight into your teachers' LMS gradebooks, and Clever matches your students, teachers and "
        "sections to their LMS accounts. Your SIS rostering does not change.",
        "How to connect (for a Clever district admin, with an LMS administrator at hand):",
    ]
    steps = [
        "Sign in to your Clever district dashboard (https://clever.com/signin).",
        "Open the LMS Connect settings and choose your LMS. Clever's help center explains each screen: "
        'search for "LMS Connect" at https://support.clever.com.',
        "Authorize Clever when your LMS asks, using an LMS administrator account.",
        "Check that our app is shared with the schools and sections whose grades should sync.",
    ]
    closing = [
        "Clever then reads your LMS and matches users and sections; this can take from a few hours to a "
        "few days. We see the connection on our side as soon as it is active, so you do not need to reply. "
        "If some students or sections do not match, Clever support helps districts resolve it.",
        f"Questions? Reply to this e-mail{write_to}. This invitation is open until "
        f"{expires:%B} {expires.day}, {expires.year}.",
        f"{sender}\n(Clever district id: {district['id']})",
    ]
    body = "\n\n".join(
        [
            *(wrap(p) for p in paragraphs),
            "\n".join(wrap(step, f"{n}. ") for n, step in enumerate(steps, 1)),
            *(wrap(p) for p in closing),
        ]
    )
    msg = EmailMessage()
    msg["Subject"] = f"Connect {possessive(name)} LMS to Clever for {sender}"
    msg["From"] = mail_from
    msg["To"] = formataddr((contact, email))
    msg["Reply-To"] = mail_from
    msg.set_content(body + "\n")
    return msg


# ---------------------------------------------------------------------------------------------
# Actions


def invite(
    db_path: str | Path,
    district_id: str,
    *,
    email: str | None = None,
    message: str | None = None,
    actor: Actor,
    mailer: Mailer,
    mail_from: str = Settings.mail_from,
    expiry_days: int = Settings.invitation_expiry_days,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Send a district its LMS Connect invitation; return the invitation row (state sent or failed).

    Raises InvitationError (audited as refused) for a bad address, an unknown or already
    connected district, or an invitation that is still open.
    """
    with _Action(db_path, actor, "invite", district_id, {"email": email}) as act:
        return act.send(email, message, mailer, mail_from=mail_from, expiry_days=expiry_days, now=now)


def resend(
    db_path: str | Path,
    invitation_id: int,
    *,
    email: str | None = None,
    message: str | None = None,
    actor: Actor,
    mailer: Mailer,
    mail_from: str = Settings.mail_from,
    expiry_days: int = Settings.invitation_expiry_days,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Send a new invitation in place of an earlier one (same address and message unless given).

    The earlier one, if still open, is cancelled once the new one has been sent; the new one
    points back to it through `resent_from`.
    """
    with _Action(db_path, actor, "resend", None, {"resent_from": invitation_id, "email": email}) as act:
        old = act.invitation(invitation_id)
        if old["state"] in ("accepted", "sending"):
            raise InvitationError(f"Invitation {invitation_id} is {old['state']}; there is nothing to resend.")
        act.resend_of = old["id"]
        return act.send(
            email or old["email"],
            message if message is not None else old["message"],
            mailer,
            mail_from=mail_from,
            expiry_days=expiry_days,
            now=now,
        )


def cancel(db_path: str | Path, invitation_id: int, *, actor: Actor, now: datetime | None = None) -> dict[str, Any]:
    """Close an open invitation so a new one can be sent (the e-mail itself cannot be recalled)."""
    with _Action(db_path, actor, "cancel", None, {"invitation_id": invitation_id}) as act:
        act.begin(now)
        row = act.invitation(invitation_id)
        if row["state"] != "sent":
            raise InvitationError(
                f"Invitation {invitation_id} is {row['state']}; only a sent invitation can be cancelled."
            )
        act.db.execute(
            "UPDATE invitations SET state = 'cancelled', cancelled_at = ? WHERE id = ?", [_iso(now), invitation_id]
        )
        act.finish("ok")
        return act.invitation(invitation_id)


def refresh_states(db: sqlite_utils.Database, now: datetime | None = None) -> dict[str, int]:
    """Mark invitations accepted (the district's lms_state left ""/null), expired, or failed (a send
    that never reported back). Idempotent and cheap: sync calls it after each district commit.

    Joins the caller's transaction if one is open. Returns how many changed, by new state.
    """
    at = _iso(now)
    grace = _iso((now or datetime.now(UTC)) - SENDING_GRACE)
    # Acceptance first: a connection that a sync only sees after the expiry date still counts.
    candidates = [
        ("accepted", "sent", "state = 'accepted', accepted_at = ?", [at], list(db.query(
            "SELECT i.id, i.district_id, 'The district''s lms_state is now ' || d.lms_state || '.' AS detail "
            "FROM invitations i JOIN districts d ON d.id = i.district_id "
            "WHERE i.state = 'sent' AND TRIM(COALESCE(d.lms_state, '')) != ''"
        ))),
        ("expired", "sent", "state = 'expired'", [], list(db.query(
            "SELECT id, district_id, 'Not accepted by ' || expires_at || '.' AS detail FROM invitations "
            "WHERE state = 'sent' AND expires_at <= ?", [at]
        ))),
        ("failed", "sending", "state = 'failed', error = ?", [INTERRUPTED], list(db.query(
            "SELECT id, district_id, ? AS detail FROM invitations WHERE state = 'sending' AND created_at <= ?",
            [INTERRUPTED, grace],
        ))),
    ]  # fmt: skip
    counts = dict.fromkeys(("accepted", "expired", "failed"), 0)
    if not any(rows for *_, rows in candidates):
        return counts
    with within_transaction(db):
        for new_state, old_state, assignments, args, rows in candidates:
            for row in rows:
                # `AND state = ?` makes a concurrent refresh that got there first a no-op here.
                moved = db.execute(
                    f"UPDATE invitations SET {assignments} WHERE id = ? AND state = ?", [*args, row["id"], old_state]
                ).rowcount
                if moved:
                    counts[new_state] += 1
                    _record_automatic(db, _AUTOMATIC_ACTIONS[new_state], row, row["detail"])
        if any(counts.values()):
            bump_data_version(db)
    return counts


_AUTOMATIC_ACTIONS = {
    "accepted": "invitation_accepted",
    "expired": "invitation_expired",
    "failed": "invitation_interrupted",
}
INTERRUPTED = "Sending was interrupted; the e-mail may or may not have gone out. Resend it if needed."


# ---------------------------------------------------------------------------------------------
# Reading


def list_invitations(
    db: sqlite_utils.Database,
    *,
    state: str | None = None,
    district_id: str | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Newest first, with the district's name and, for a resent one, the invitation that replaced it.

    Read-only: a sent invitation past its expiry date is shown as expired even before
    `refresh_states` has recorded it, so pages that only read never show a stale state.
    """
    shown_state = "CASE WHEN i.state = 'sent' AND i.expires_at <= :now THEN 'expired' ELSE i.state END"
    where = [f"{shown_state} = :state"] if state else []
    if district_id:
        where.append("i.district_id = :district_id")
    sql = (
        f"SELECT i.id, i.district_id, d.name AS district_name, i.email, {shown_state} AS state, i.created_at, "
        "i.sent_at, i.expires_at, i.accepted_at, i.cancelled_at, i.error, i.actor, i.resent_from, "
        "(SELECT MIN(n.id) FROM invitations n WHERE n.resent_from = i.id) AS replaced_by, i.message "
        "FROM invitations i LEFT JOIN districts d ON d.id = i.district_id"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY i.id DESC"
        + (" LIMIT :limit" if limit else "")
    )
    params = {"now": _iso(now), "state": state, "district_id": district_id, "limit": limit}
    return list(db.query(sql, params))


def latest_invitations(db: sqlite_utils.Database, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Each district's newest invitation as `invitation_state`, `invitation_email`, `invitation_sent_at`:
    the optional keys `health.assess` uses to say who acts on a district that is not connected."""
    rows = db.query(
        "SELECT district_id, CASE WHEN state = 'sent' AND expires_at <= ? THEN 'expired' ELSE state END "
        "AS invitation_state, email AS invitation_email, sent_at AS invitation_sent_at "
        "FROM invitations WHERE id IN (SELECT MAX(id) FROM invitations GROUP BY district_id)",
        [_iso(now)],
    )
    return {row.pop("district_id"): row for row in rows}


def inbound_requests(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Districts waiting on us (lms_state pending_authorization), longest waiting first."""
    rows = list(
        db.query(
            "SELECT id, name, lms_type, contact_name, contact_email, last_pulled_at FROM districts "
            "WHERE lms_state = 'pending_authorization'"
        )
    )
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    history = db.query(
        "SELECT district_id, pulled_at, lms_state FROM district_history "
        f"WHERE district_id IN ({','.join('?' * len(ids))})",
        ids,
    )
    since = state_since(list(history))
    for row in rows:
        row["waiting_since"] = since.get(row["id"]) or row["last_pulled_at"]
    return sorted(rows, key=lambda r: (r["waiting_since"] or "", r["id"]))


# ---------------------------------------------------------------------------------------------
# Internals


class _Action:
    """One audited action on one cache connection.

    An InvitationError raised inside rolls back whatever the action wrote and is recorded as
    "refused"; `finish` writes the audit row in the same transaction as the state change.
    """

    def __init__(
        self, db_path: str | Path, actor: Actor, action: str, target: str | None, params: dict[str, Any]
    ) -> None:
        self.db_path, self.action, self.target, self.params = db_path, action, target, params
        self.actor = audit.authorize(db_path, actor, Permission.INVITE, action=action, target=target, params=params)
        self.resend_of: int | None = None

    def __enter__(self) -> _Action:
        self._connection = connect(self.db_path)
        self.db = self._connection.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if self.db.conn.in_transaction:
                self.db.conn.rollback()
            if isinstance(exc, InvitationError):
                self.params = {k: v for k, v in self.params.items() if v is not None}
                with write_transaction(self.db):
                    self.record("refused", str(exc))
        finally:
            self._connection.__exit__(kind, exc, tb)

    def begin(self, now: datetime | None) -> None:
        """Lock the cache for writing and bring invitation states up to date first."""
        self.db.execute("BEGIN IMMEDIATE")
        refresh_states(self.db, now=now)

    def finish(self, outcome: str, detail: str | None = None) -> None:
        self.record(outcome, detail)
        bump_data_version(self.db)
        self.db.conn.commit()

    def record(self, outcome: str, detail: str | None) -> None:
        audit.record(
            self.db,
            actor=self.actor,
            action=self.action,
            target=self.target,
            outcome=outcome,
            params=self.params,
            detail=detail,
        )

    def invitation(self, invitation_id: int) -> dict[str, Any]:
        row = _invitation(self.db, invitation_id)
        if row is None:
            raise InvitationError(f"Invitation {invitation_id} does not exist.")
        self.target = row["district_id"]
        return row

    def send(
        self,
        email: str | None,
        message: str | None,
        mailer: Mailer,
        *,
        mail_from: str,
        expiry_days: int,
        now: datetime | None,
    ) -> dict[str, Any]:
        started = now or datetime.now(UTC)
        expires = started + timedelta(days=expiry_days)
        self.begin(now)
        district, address, text = self.checked(email, message)
        try:
            inputs.header_text("MAIL_FROM", mail_from)
        except inputs.InputError as exc:
            raise InvitationError(f"{exc}; fix MAIL_FROM and send again.") from None
        invitation_id = self.db.execute(
            "INSERT INTO invitations (district_id, email, message, state, actor, created_at, expires_at, resent_from) "
            "VALUES (?, ?, ?, 'sending', ?, ?, ?, ?)",
            [district["id"], address, text, self.actor, _iso(started), _iso(expires), self.resend_of],
        ).lastrowid
        self.db.conn.commit()  # visible as open before the mail goes out, so nobody else sends one too
        self.params.update(invitation_id=invitation_id, via=mailer.display)
        try:  # composing is inside: a header the mail library refuses ends the invitation as failed
            msg = compose(district, email=address, message=text, mail_from=mail_from, expires=expires)
            msg["X-LMSData-Invitation"] = str(invitation_id)
            mailer.send(msg)
        except (MailError, ValueError) as exc:
            error: str | None = str(exc)
        else:
            error = None
        self.db.execute("BEGIN IMMEDIATE")
        if error is None:
            self.db.execute(
                "UPDATE invitations SET state = 'sent', sent_at = ? WHERE id = ?", [_iso(now), invitation_id]
            )
            self.db.execute(
                "UPDATE invitations SET state = 'cancelled', cancelled_at = ? WHERE id = ? AND state = 'sent'",
                [_iso(now), self.resend_of],
            )
        else:
            self.db.execute("UPDATE invitations SET state = 'failed', error = ? WHERE id = ?", [error, invitation_id])
        self.finish("ok" if error is None else "failed", error)
        return _invitation(self.db, invitation_id) or {}

    def checked(self, email: str | None, message: str | None) -> tuple[dict[str, Any], str, str | None]:
        """The district, the address and the message, or an InvitationError saying what is wrong."""
        district_id = self.target
        rows = list(self.db.query("SELECT * FROM districts WHERE id = ?", [district_id]))
        if not rows:
            raise InvitationError(
                f"No district with id {district_id!r} in the cache; check the id or run `lmsdata sync`."
            )
        district = rows[0]
        allowed, why = can_invite(district)
        if not allowed:
            raise InvitationError(why)
        if not (email or district.get("contact_email")):
            raise InvitationError(f"{district['name']} has no contact e-mail in Clever; give an address.")
        address = validate_email(email or district.get("contact_email"))
        self.params["email"] = address
        text = (message or "").strip() or None
        if text and len(text) > MAX_MESSAGE_CHARS:
            raise InvitationError(
                f"The personal message has {len(text)} characters; keep it under {MAX_MESSAGE_CHARS}."
            )
        for other in self.db.query(
            "SELECT id, state, email FROM invitations WHERE district_id = ? AND state IN ('sending', 'sent')",
            [district_id],
        ):
            if other["id"] != self.resend_of:
                raise InvitationError(
                    f"{district['name']} already has an open invitation (#{other['id']}, {other['state']} to "
                    f"{other['email']}); resend or cancel it instead."
                )
        return district, address, text


def _record_automatic(db: sqlite_utils.Database, action: str, row: dict[str, Any], detail: str) -> None:
    audit.record(
        db,
        actor="system",
        action=action,
        target=row["district_id"],
        outcome="ok",
        params={"invitation_id": row["id"]},
        detail=detail,
    )


def _invitation(db: sqlite_utils.Database, invitation_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM invitations WHERE id = ?", [invitation_id]))
    return rows[0] if rows else None


def _iso(at: datetime | None) -> str:
    """The cache's timestamp format (see lmsdata.db.utcnow), for an injected or the current time."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
