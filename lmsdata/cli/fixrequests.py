"""`lmsdata fix-request create|list|show|remind|close`: ask a district to fix its matching problems."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from lmsdata import fixrequests
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
from lmsdata.wording import plural

LIST_COLUMNS = ("id", "district_id", "district_name", "email", "state", "progress", "sent_at", "reminders",
                "closed_at", "close_reason", "error", "actor")  # fmt: skip
ITEM_COLUMNS = ("kind", "object_id", "name", "email", "sis_id", "school", "reason_code", "resolved_at", "resolution")


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(fix_request_group)


@click.group("fix-request")
def fix_request_group() -> None:
    """Lists of unmatched users and unsynced sections sent to a district, tracked until fixed."""


def _refused(exc: fixrequests.FixRequestError) -> NoReturn:
    click.echo(f"Refused: {exc}", err=True)
    sys.exit(1)


def _show(request: dict[str, Any], output_format: str) -> None:
    """One request: its row, then its items (JSON: one object with `item_rows`)."""
    if output_format == "json":
        click.echo(json.dumps(request, indent=2, default=str))
        return
    items = request.pop("item_rows", [])
    emit([request], output_format, LIST_COLUMNS)
    if output_format == "table":
        click.echo("")
    emit(items, output_format, ITEM_COLUMNS)


def _act(action: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return action(*args, **kwargs)
    except fixrequests.FixRequestError as exc:
        _refused(exc)


@fix_request_group.command("create")
@click.argument("district_id")
@click.option("--to", "email", default=None, metavar="ADDRESS", help="Send here instead of the district contact.")
@click.option("--message", default=None, metavar="TEXT",
              help="The opening paragraph (default: a standard one; '' for none).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the items that would be sent; send and record nothing.")
@db_option
@actor_option
@format_option
@friendly_errors
def create_command(district_id: str, email: str | None, message: str | None, dry_run: bool, db_path: Path | None,
                   actor: str | None, output_format: str) -> None:
    """Mail DISTRICT_ID's contact its unmatched students and teachers and unsynced sections, as CSV.

    Each item is then tracked: a later sync that shows it matched marks it fixed.
    """
    settings = settings_for(db_path)
    if dry_run:
        preview = _act(fixrequests.preview, settings.db_path, district_id)
        if output_format == "json":
            click.echo(json.dumps({"to": email or preview["to"], "message": preview["message"] if message is None
                                   else message, "items": preview["items"]}, indent=2, default=str))
            return
        if output_format == "table":
            to = email or preview["to"] or "(no address: give --to)"
            click.echo(f"Dry run: would send {plural(len(preview['items']), 'item')} to {to}.")
        emit(preview["items"], output_format, ("kind", "object_id", "name", "email", "sis_id", "school", "reason"))
        return
    request = _act(fixrequests.create, settings.db_path, district_id, actor=default_actor(actor),
                   mailer=mailer_for(settings, "a fix request"), email=email, message=message,
                   mail_from=settings.mail_from)
    if output_format != "table":
        _show(request, output_format)
    elif request["state"] == "open":
        click.echo(f"Fix request {request['id']} sent to {request['email']}: {plural(request['items'], 'item')}.")
    if request["state"] != "open":
        click.echo(f"Fix request {request['id']} to {request['email']} could not be sent: {request['error']}", err=True)
        sys.exit(1)


@fix_request_group.command("list")
@click.option("--district", "district_id", default=None, metavar="ID", help="Only this district's requests.")
@click.option("--state", type=click.Choice(fixrequests.STATES), default=None, help="Only requests in this state.")
@db_option
@format_option
@friendly_errors
def list_command(district_id: str | None, state: str | None, db_path: Path | None, output_format: str) -> None:
    """Fix requests, newest first, with their progress ("9 of 14 fixed")."""
    with connect(settings_for(db_path).db_path) as db:
        fixrequests.refresh(db)
        emit(fixrequests.list_requests(db, district_id=district_id, state=state), output_format, LIST_COLUMNS)


@fix_request_group.command("show")
@click.argument("request_id", type=ROW_ID)
@db_option
@format_option
@friendly_errors
def show_command(request_id: int, db_path: Path | None, output_format: str) -> None:
    """One request and each of its items (open ones first)."""
    request = fixrequests.get(settings_for(db_path).db_path, request_id)
    if request is None:
        raise click.ClickException(f"Fix request #{request_id} does not exist; `lmsdata fix-request list` shows them.")
    _show(request, output_format)


@fix_request_group.command("remind")
@click.argument("request_id", type=ROW_ID)
@click.option("--message", default=None, metavar="TEXT", help="A line placed above the list of what is open.")
@db_option
@actor_option
@format_option
@friendly_errors
def remind_command(request_id: int, message: str | None, db_path: Path | None, actor: str | None,
                   output_format: str) -> None:
    """Mail the district only the items still open."""
    settings = settings_for(db_path)
    request = _act(fixrequests.remind, settings.db_path, request_id, actor=default_actor(actor),
                   mailer=mailer_for(settings, "a reminder"), message=message, mail_from=settings.mail_from)
    error = request.pop("reminder_error")
    if output_format != "table":
        _show(request, output_format)
    elif error is None:
        still = plural(request["items"] - request["fixed"], "item")
        click.echo(f"Reminder sent to {request['email']}: {still} still open ({request['progress']}).")
    if error is not None:
        click.echo(f"The reminder for fix request {request_id} could not be sent: {error}", err=True)
        sys.exit(1)


@fix_request_group.command("close")
@click.argument("request_id", type=ROW_ID)
@db_option
@actor_option
@format_option
@friendly_errors
def close_command(request_id: int, db_path: Path | None, actor: str | None, output_format: str) -> None:
    """Close a request by hand (it closes by itself once every item is fixed)."""
    request = _act(fixrequests.close, settings_for(db_path).db_path, request_id, actor=default_actor(actor))
    if output_format != "table":
        _show(request, output_format)
    else:
        click.echo(f"Fix request {request['id']} closed ({request['progress']}).")
