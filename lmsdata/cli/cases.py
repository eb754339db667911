"""`lmsdata case ...`: show and edit a district's (or cluster's) case from the shell."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from lmsdata import cases
from lmsdata.cli._common import (
    actor_option,
    db_option,
    default_actor,
    emit,
    format_option,
    friendly_errors,
    settings_for,
)


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(case_group)


@click.group("case")
def case_group() -> None:
    """Who is on a district, its state, snooze and notes."""


@case_group.command("show")
@click.argument("subject")
@db_option
@format_option
@friendly_errors
def show_command(subject: str, db_path: Path | None, output_format: str) -> None:
    """Show SUBJECT's case (a district id or cluster:KEY)."""
    case = cases.get(settings_for(db_path).db_path, subject)
    if case is None:
        raise click.ClickException(f"No case for {subject} yet; `lmsdata case edit {subject} --assign ...` opens one.")
    notes = case.pop("notes")
    emit([{**case, "notes": len(notes)}], output_format)


@case_group.command("edit")
@click.argument("subject")
@click.option("--assign", "assignee", default=None, help="E-mail of the person who takes the case.")
@click.option("--state", type=click.Choice(cases.STATES), default=None)
@click.option("--snooze", "snooze_until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@click.option("--note", default=None, help="Add a note (plain text).")
@click.option("--ticket", "ticket_id", default=None, help="External ticket id (Zendesk, Jira, Clever support).")
@db_option
@actor_option
@friendly_errors
def edit_command(subject: str, assignee: str | None, state: str | None, snooze_until: datetime | None,
                 note: str | None, ticket_id: str | None, db_path: Path | None, actor: str | None) -> None:
    """Assign, change state, snooze, set the ticket or add a note; each change is audited."""
    path, who = settings_for(db_path).db_path, default_actor(actor)
    try:
        if assignee is not None:
            cases.assign(path, who, subject, assignee)
        if state is not None:
            cases.set_state(path, who, subject, state)
        if snooze_until is not None:
            cases.snooze(path, who, subject, snooze_until.date())
        if ticket_id is not None:
            cases.set_ticket(path, who, subject, ticket_id)
        if note is not None:
            cases.add_note(path, who, subject, note)
    except cases.CaseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Case {subject} updated.")
