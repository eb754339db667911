"""`lmsdata pushes list|import|resolve` and `lmsdata retry`: thin shells over lmsdata.pushes."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from pathlib import Path

import click

from lmsdata.cli._common import (
    ROW_ID,
    actor_option,
    cached_settings,
    clever_settings,
    db_option,
    default_actor,
    emit,
    format_option,
    friendly_errors,
    sandbox_option,
    settings_for,
)
from lmsdata.cli.budget import echo_retry_budget
from lmsdata.pushes.log import LIST_COLUMNS, STATES
from lmsdata.pushes.taxonomy import Category

CATEGORY_NAMES = [c.slug for c in Category]
RESULT_COLUMNS = ("push_id", "district_id", "outcome", "category", "reason")


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(pushes_group)
    cli.add_command(retry_command)


@click.group("pushes")
def pushes_group() -> None:
    """The grade push log: list it, import an existing log, settle unknown outcomes."""


def _category_option(func):  # type: ignore[no-untyped-def]
    return click.option(
        "--category", type=click.Choice(CATEGORY_NAMES), default=None, help="Only this failure category."
    )(func)


@pushes_group.command("list")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only pushes in this state.")
@click.option("--district", "district_id", default=None, metavar="ID", help="Only this district.")
@_category_option
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many (newest first).")
@format_option
@db_option
@friendly_errors
def list_command(
    state: str | None,
    district_id: str | None,
    category: str | None,
    limit: int | None,
    output_format: str,
    db_path: Path | None,
) -> None:
    """Pushes newest first, each failure with its owner and next step."""
    from lmsdata.db import connect
    from lmsdata.pushes import list_pushes

    settings = settings_for(db_path)
    with connect(settings.db_path) as db:
        rows = list_pushes(db, state=state, district_id=district_id, category=category, limit=limit)
    columns = LIST_COLUMNS if output_format != "table" else (
        "id", "district_id", "kind", "student_id", "state", "category", "owner", "last_status", "created_at",
    )  # fmt: skip
    emit(rows, output_format, columns)
    if output_format == "table" and rows:
        _print_next_steps(rows)


def _with_category(row: dict) -> dict:  # type: ignore[type-arg]
    from lmsdata.pushes.log import with_category_details

    return with_category_details(row)


def _short(row: dict) -> dict:  # type: ignore[type-arg]
    """The reason without the category's next step: the table lists each next step once below."""
    next_step = _with_category(row)["next_step"]
    reason = row["reason"].replace(next_step, "").strip() if next_step else row["reason"]
    return {**row, "reason": reason}


def _print_next_steps(rows: list[dict]) -> None:  # type: ignore[type-arg]
    """Under the table: what to do for each category shown, once."""
    seen: dict[str, str] = {}
    for row in rows:
        if row["category"] and row["category"] not in seen:
            seen[row["category"]] = f"{row['category_label']} (owner: {row['owner']}): {row['next_step']}"
    if seen:
        click.echo("\nNext steps:")
        for line in seen.values():
            click.echo(f"  - {line}")


SEARCH_COLUMNS = ("id", "district_id", "section_id", "assignment_key", "student_id", "student", "kind", "state",
                  "attempts", "created_at", "updated_at", "ready", "ready_reason")


@pushes_group.command("search")
@click.argument("text", required=False, default="")
@click.option("--by", type=click.Choice(["any", "student", "teacher", "section", "assignment"]), default="any",
              show_default=True, help="What TEXT names: a student (name, e-mail, SIS id or Clever id), a teacher, "
                                      "a section (id, SIS id or name), an assignment (key, Clever id or title).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Produced on or after YYYY-MM-DD.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Produced on or before YYYY-MM-DD.")
@click.option("--state", "states", type=click.Choice(STATES), multiple=True, help="Only this state (repeatable).")
@click.option("--district", "district_ids", multiple=True, metavar="ID", help="Only this district (repeatable).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@format_option
@db_option
@friendly_errors
def search_command(text: str, by: str, since: datetime | None, until: datetime | None, states: tuple[str, ...],
                   district_ids: tuple[str, ...], limit: int, output_format: str, db_path: Path | None) -> None:
    """Find pushes in every state (sent ones too) from what a ticket says; each with its attempts and
    readiness now. Student names and e-mails are masked."""
    from lmsdata.db import connect
    from lmsdata.masking import mask_name
    from lmsdata.pushes.search import Query, SearchError, search

    query = Query(text, by, since.date() if since else None, until.date() if until else None, states, district_ids)
    settings = cached_settings(db_path)
    try:
        with connect(settings.db_path) as db:
            found = search(db, query, limit=limit)
    except SearchError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    rows = []
    for row in found.astype(object).where(found.notna(), None).to_dict("records"):
        row["student"] = mask_name(row["student"])
        row["attempts"] = row.pop("attempts_list") if output_format == "json" else row["attempts"]
        rows.append(row)
    emit(rows, output_format, SEARCH_COLUMNS)


@pushes_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@actor_option
@friendly_errors
def import_command(file: Path, db_path: Path | None, actor: str | None) -> None:
    """Import an existing push log (JSON Lines; format in docs/pushes.md).

    Bad lines are reported with their line numbers and skipped; the rest are imported. Exits 1 if
    any line was bad. Importing the same file again adds nothing.
    """
    from lmsdata.pushes.importer import import_jsonl

    settings = settings_for(db_path)
    report = import_jsonl(settings.db_path, file, actor=default_actor(actor))
    click.echo(
        f"Imported {report.imported} push(es) from {file}"
        + (f"; {report.duplicates} already imported" if report.duplicates else "")
        + (f"; {len(report.errors)} bad line(s):" if report.errors else ".")
    )
    for number, message in report.errors:
        click.echo(f"  line {number}: {message}")
    for number, message in report.warnings:
        click.echo(f"  warning, line {number}: {message}")
    if report.errors:
        sys.exit(1)


@pushes_group.command("resolve")
@click.argument("push_id", type=ROW_ID)
@click.option("--assignment-id", default=None, help="The assignment exists in the LMS with this Clever id.")
@click.option("--not-created", is_flag=True, help="The assignment is not in the LMS: allow the create to be retried.")
@db_option
@actor_option
@friendly_errors
def resolve_command(
    push_id: int, assignment_id: str | None, not_created: bool, db_path: Path | None, actor: str | None
) -> None:
    """Settle an assignment create whose outcome is unknown (it timed out), after checking the LMS."""
    from lmsdata.pushes.resolve import ResolveError, resolve_unknown

    if bool(assignment_id) == not_created:
        raise click.UsageError("give exactly one of --assignment-id UUID or --not-created")
    settings = settings_for(db_path)
    try:
        message = resolve_unknown(
            settings.db_path, push_id, assignment_id=assignment_id, actor=default_actor(actor)
        )
    except ResolveError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    click.echo(message)


@click.command("retry")
@click.option("--push", "push_ids", multiple=True, type=ROW_ID, metavar="ID", help="A push to retry (repeatable).")
@click.option("--all-failed", is_flag=True, help="Every failed push (narrow it with --district/--category).")
@click.option("--district", "district_id", default=None, metavar="ID", help="Only this district.")
@_category_option
@click.option("--dry-run", is_flag=True, help="Print the budget, check what can be sent (reads Clever), send nothing.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Districts retried at the same time.")
@sandbox_option
@format_option
@db_option
@actor_option
@friendly_errors
def retry_command(
    push_ids: tuple[int, ...],
    all_failed: bool,
    district_id: str | None,
    category: str | None,
    dry_run: bool,
    concurrency: int,
    sandbox_url: str | None,
    output_format: str,
    db_path: Path | None,
    actor: str | None,
) -> None:
    """Retry failed grade pushes safely: gated, newest payload only, never twice, paced.

    Prints one result per push. Exits 1 if any push failed again or has an unknown outcome.
    """
    from lmsdata.client import CleverClient
    from lmsdata.errors import CleverError
    from lmsdata.pushes import RetryOptions, retry_pushes

    if bool(push_ids) == all_failed:
        raise click.UsageError("give --push ID (one or more) or --all-failed, not both")
    settings = clever_settings(db_path, sandbox_url, "retry")
    if dry_run:
        echo_retry_budget(settings.db_path, list(push_ids), district_id=district_id, category=category,
                          concurrency=concurrency)  # fmt: skip
    progress = _Progress()
    try:
        with CleverClient.from_settings(settings) as client:
            report = retry_pushes(
                client, settings.db_path, list(push_ids) or None, district_id=district_id, category=category,
                all_failed=all_failed, dry_run=dry_run, on_progress=progress, actor=default_actor(actor),
                options=RetryOptions(concurrency=concurrency),
            )  # fmt: skip
    except CleverError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    finally:
        progress.close()
    rows = [{**item.__dict__} for item in sorted(report.items, key=lambda i: i.push_id)]
    if rows and output_format == "table":
        emit([_short(row) for row in rows], output_format, RESULT_COLUMNS)
        _print_next_steps([_with_category(row) for row in rows if row["outcome"] != "sent"])
    elif rows:
        emit(rows, output_format, RESULT_COLUMNS)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in report.counts.items() if n) or "nothing to retry"
    click.echo(
        f"{'Dry run: ' if dry_run else ''}{summary} ({report.requests} requests, {report.duration_s:.1f}s).",
        err=True,
    )
    if report.counts["failed"] or report.counts["unknown"]:
        sys.exit(1)


class _Progress:
    """A click progress bar on stderr, fed from the retry's worker threads."""

    def __init__(self) -> None:
        self._bar = None
        self._lock = threading.Lock()

    def __call__(self, progress) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            if self._bar is None:
                self._bar = click.progressbar(length=max(progress.total, 1), label="Retrying", file=sys.stderr)
                self._bar.__enter__()
            self._bar.update(1)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.__exit__(None, None, None)
                self._bar = None
