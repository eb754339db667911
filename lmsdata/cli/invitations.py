"""`lmsdata invite`, `lmsdata invitations [cancel|resend|inbound]` and `lmsdata audit`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from lmsdata import audit, invitations
from lmsdata.cli._common import (
    ROW_ID,
    actor_option,
    db_option,
    default_actor,
    emit,
    format_option,
    friendly_errors,
    mailer_for,
    settings_for,
)
from lmsdata.db import connect

LIST_COLUMNS = ("id", "district_id", "district_name", "email", "state", "sent_at", "expires_at", "error", "actor",
                "resent_from", "replaced_by")  # fmt: skip
INBOUND_COLUMNS = ("id", "name", "lms_type", "contact_name", "contact_email", "waiting_since")
AUDIT_COLUMNS = ("id", "at", "actor", "action", "target", "outcome", "params", "detail")


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(invite_command)
    cli.add_command(invitations_group)
    cli.add_command(audit_command)


def _send(
    action: Callable[..., dict[str, Any]],
    target: str | int,
    email: str | None,
    message: str | None,
    db_path: Path | None,
    actor: str | None,
) -> None:
    """Run `invitations.invite` or `.resend` with the configured mail server and report the outcome."""
    settings = settings_for(db_path)
    mailer = mailer_for(settings, "an invitation")
    try:
        row = action(
            settings.db_path, target, email=email, message=message, actor=default_actor(actor),
            mailer=mailer, mail_from=settings.mail_from, expiry_days=settings.invitation_expiry_days,
        )  # fmt: skip
    except invitations.InvitationError as exc:
        _refused(exc)
    _report(row)


def _report(row: dict[str, Any]) -> None:
    """One line on the outcome; a failed send ends the command with exit code 1."""
    if row["state"] == "sent":
        click.echo(f"Invitation {row['id']} sent to {row['email']} (open until {row['expires_at'][:10]}).")
        return
    click.echo(f"Invitation {row['id']} to {row['email']} could not be sent: {row['error']}", err=True)
    sys.exit(1)


def _refused(exc: invitations.InvitationError) -> NoReturn:
    click.echo(f"Refused: {exc}", err=True)
    sys.exit(1)


_email_option = click.option("--email", default=None, metavar="ADDRESS",
                             help="Send to this address instead of the district contact from Clever.")  # fmt: skip
_message_option = click.option("--message", default=None, metavar="TEXT",
                               help="A personal note placed at the top of the e-mail.")  # fmt: skip


@click.command("invite")
@click.argument("district_id")
@_email_option
@_message_option
@db_option
@actor_option
@friendly_errors
def invite_command(
    district_id: str, email: str | None, message: str | None, db_path: Path | None, actor: str | None
) -> None:
    """E-mail a district an invitation to connect its LMS through Clever.

    The address defaults to the district contact Clever reports; SMTP_URL says which mail server sends it.
    """
    _send(invitations.invite, district_id, email, message, db_path, actor)


@click.group("invitations", invoke_without_command=True)
@click.option("--state", type=click.Choice(invitations.STATES), default=None, help="Only invitations in this state.")
@click.option("--district", "district_id", default=None, metavar="ID", help="Only this district's invitations.")
@format_option
@db_option
@click.pass_context
@friendly_errors
def invitations_group(
    ctx: click.Context, state: str | None, district_id: str | None, output_format: str, db_path: Path | None
) -> None:
    """List invitations, newest first; `cancel`, `resend` and `inbound` are subcommands."""
    if ctx.invoked_subcommand is not None:
        return
    with connect(settings_for(db_path).db_path) as db:
        invitations.refresh_states(db)
        rows = invitations.list_invitations(db, state=state, district_id=district_id)
    emit(rows, output_format, LIST_COLUMNS)


@invitations_group.command("resend")
@click.argument("invitation_id", type=ROW_ID)
@_email_option
@_message_option
@db_option
@actor_option
@friendly_errors
def resend_command(
    invitation_id: int, email: str | None, message: str | None, db_path: Path | None, actor: str | None
) -> None:
    """Send an invitation again (to a new address with --email).

    The old invitation is closed once the new one has been sent.
    """
    _send(invitations.resend, invitation_id, email, message, db_path, actor)


@invitations_group.command("cancel")
@click.argument("invitation_id", type=ROW_ID)
@db_option
@actor_option
@friendly_errors
def cancel_command(invitation_id: int, db_path: Path | None, actor: str | None) -> None:
    """Close an open invitation so the district can be invited again.

    The e-mail itself cannot be recalled.
    """
    try:
        row = invitations.cancel(settings_for(db_path).db_path, invitation_id, actor=default_actor(actor))
    except invitations.InvitationError as exc:
        _refused(exc)
    click.echo(f"Invitation {row['id']} to {row['email']} cancelled.")


@invitations_group.command("inbound")
@format_option
@db_option
@friendly_errors
def inbound_command(output_format: str, db_path: Path | None) -> None:
    """Districts waiting on us (lms_state pending_authorization).

    Approve their LMS Connect request in the Clever App Dashboard.
    """
    with connect(settings_for(db_path).db_path) as db:
        rows = invitations.inbound_requests(db)
    emit(rows, output_format, INBOUND_COLUMNS)


@click.command("audit")
@click.option("--actor", default=None, help="Only this actor's actions.")
@click.option("--action", default=None, help="Only this kind of action (invite, resend, cancel, retry, sync, ...).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000), help="Newest N entries.")
@format_option
@db_option
@friendly_errors
def audit_command(actor: str | None, action: str | None, limit: int, output_format: str, db_path: Path | None) -> None:
    """Show the audit log: who did what, to what, and how it ended.

    Newest first. The log is append-only: nothing in it can be changed or deleted.
    """
    with connect(settings_for(db_path).db_path) as db:
        rows = audit.entries(db, actor=actor, action=action, limit=limit)
    emit(rows, output_format, AUDIT_COLUMNS)
