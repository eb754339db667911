"""`lmsdata reconcile` and `lmsdata gradebook …`: read the gradebook back, export teacher edits, approve holds."""

from __future__ import annotations

from pathlib import Path

import click

from lmsdata.cli._common import (
    actor_option,
    clever_settings,
    db_option,
    default_actor,
    emit,
    format_option,
    friendly_errors,
    sandbox_option,
    settings_for,
)
from lmsdata.client import CleverClient
from lmsdata.db import connect
from lmsdata.gradebook import confirm_identity, overwrite_anyway, reconcile, suspected_duplicates
from lmsdata.gradebook.export import lms_changes, write_jsonl
from lmsdata.pushes import retry_pushes
from lmsdata.pushes.log import iso, parse_time


def register(cli: click.Group) -> None:
    cli.add_command(reconcile_command)
    cli.add_command(gradebook)


def _since(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return iso(parse_time(value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or an ISO-8601 time") from None


@click.command("reconcile")
@click.option("--district", "district_id", default=None, help="Only this district.")
@click.option("--since", default=None, help="Only pushes updated since this date (YYYY-MM-DD or ISO-8601).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the LMS-side changes (teacher edits) to this JSON Lines file.")
@db_option
@sandbox_option
@actor_option
@friendly_errors
def reconcile_command(district_id: str | None, since: str | None, export_path: Path | None, db_path: Path | None,
                      sandbox_url: str | None, actor: str | None) -> None:
    """Read back the gradebook of every section with new pushes and compare it with what we sent."""
    settings = clever_settings(db_path, sandbox_url, "reconcile")
    with CleverClient.from_settings(settings) as client:
        report = reconcile(client, settings.db_path, district_id=district_id, since=_since(since),
                           actor=default_actor(actor))  # fmt: skip
    counts = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in report.summary().items())
    click.echo(f"Reconciled {report.sections} section(s) with {report.requests} request(s): {counts}.")
    for did, error in report.errors.items():
        click.echo(f"District {did} could not be read: {error}", err=True)
    if export_path:
        _export(settings.db_path, district_id, export_path)


def _export(db_path: Path, district_id: str | None, export_path: Path) -> None:
    with connect(db_path) as db, export_path.open("w", encoding="utf-8") as out:
        written = write_jsonl(lms_changes(db, district_id), out)
    click.echo(f"Wrote {written} LMS-side change(s) to {export_path}.")


@click.group("gradebook")
def gradebook() -> None:
    """Teacher edits and suspected duplicate students found by `lmsdata reconcile`."""


@gradebook.command("export")
@click.argument("export_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--district", "district_id", default=None)
@db_option
@friendly_errors
def export_command(export_path: Path, district_id: str | None, db_path: Path | None) -> None:
    """Write the last reconcile's LMS-side changes to a JSON Lines file (docs/gradebook.md)."""
    _export(settings_for(db_path).db_path, district_id, export_path)


@gradebook.command("duplicates")
@click.option("--district", "district_id", default=None)
@db_option
@format_option
@friendly_errors
def duplicates_command(district_id: str | None, db_path: Path | None, output_format: str) -> None:
    """Students who are likely one person; pushes to them wait for `gradebook confirm-identity`."""
    with connect(settings_for(db_path).db_path) as db:
        found = suspected_duplicates(db, district_id)
    emit([{"district_id": d.district_id, "users": " ".join(d.user_ids), "why": d.reason} for d in found],
         output_format, ["district_id", "users", "why"])  # fmt: skip


@gradebook.command("confirm-identity")
@click.argument("student_id")
@click.option("--reason", default="", help="Why they are different people (kept in the audit log).")
@db_option
@actor_option
@friendly_errors
def confirm_command(student_id: str, reason: str, db_path: Path | None, actor: str | None) -> None:
    """Release pushes to a suspected duplicate: an operator says this student is a distinct person."""
    confirm_identity(settings_for(db_path).db_path, student_id, default_actor(actor), reason)
    click.echo(f"Pushes to {student_id} are no longer held (recorded in the audit log).")


@gradebook.command("overwrite")
@click.argument("push_id", type=int)
@click.option("--reason", default="", help="Why the partner's grade replaces the teacher's (kept in the audit log).")
@db_option
@sandbox_option
@actor_option
@friendly_errors
def overwrite_command(push_id: int, reason: str, db_path: Path | None, sandbox_url: str | None,
                      actor: str | None) -> None:
    """Overwrite anyway: send this push over a teacher's edit in the LMS (audited), then retry it now."""
    settings = clever_settings(db_path, sandbox_url, "gradebook overwrite")
    who = default_actor(actor)
    overwrite_anyway(settings.db_path, push_id, who, reason)
    with CleverClient.from_settings(settings) as client:
        report = retry_pushes(client, settings.db_path, [push_id], actor=who)
    for item in report.items:
        click.echo(f"push {item.push_id}: {item.outcome} ({item.reason})")
