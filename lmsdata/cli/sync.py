"""`lmsdata sync` and `lmsdata status`: thin shells over lmsdata.sync and lmsdata.status."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from lmsdata.cli._common import (
    actor_option,
    cached_settings,
    clever_settings,
    db_option,
    default_actor,
    emit,
    format_option,
    friendly_errors,
    sandbox_option,
)
from lmsdata.cli.budget import echo_sync_budget
from lmsdata.errors import CleverError

TABLE_COLUMNS = (
    "id", "name", "lms_type", "lms_state", "health", "owner", "last_lms_sync", "matched_students",
    "matched_teachers", "matched_sections", "unmatched_students", "unmatched_teachers", "unsynced_sections",
    "failed_pushes", "last_pulled_at",
)  # fmt: skip


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(sync_command)
    cli.add_command(status_command)


class _ProgressLine:
    """One self-overwriting line on stderr (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, progress) -> None:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if not self.enabled or (progress.phase not in ("done", "failed", "finished") and now - self.last < 0.1):
            return
        self.last = now
        total = progress.districts_total or 1
        width = 30
        filled = int(width * progress.districts_done / total)
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {progress.districts_done}/{progress.districts_total} "
            f"districts, {progress.records:,} records"
        )
        click.echo(line, err=True, nl=progress.phase == "finished")


@click.command("sync")
@click.option("--full", is_flag=True, help="Pull everything again instead of only the changes since the last sync.")
@click.option("--district", "district_ids", multiple=True, metavar="ID", help="Only this district (repeatable).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 32),
              help="Districts pulled at the same time.")
@click.option("--dry-run", is_flag=True, help="Print the projected requests per token and the time; pull nothing.")
@sandbox_option
@db_option
@actor_option
@friendly_errors
def sync_command(
    full: bool,
    district_ids: tuple[str, ...],
    concurrency: int,
    dry_run: bool,
    sandbox_url: str | None,
    db_path: Path | None,
    actor: str | None,
) -> None:
    """Pull Clever's districts, users and sections into the local cache.

    Incremental by default (Clever's Events API); a district without a cursor gets a full pull.
    Exits with status 1 and names the districts that failed; the others are still synced.
    """
    from lmsdata.client import CleverClient
    from lmsdata.sync import SyncAlreadyRunning, sync

    settings = clever_settings(db_path, sandbox_url, "sync")
    if dry_run:
        echo_sync_budget(settings.db_path, list(district_ids), full=full, concurrency=concurrency)
        return
    try:
        with CleverClient.from_settings(settings) as client:
            result = sync(
                client, settings.db_path, full=full, district_ids=list(district_ids) or None,
                concurrency=concurrency, on_progress=_ProgressLine(), actor=default_actor(actor),
            )  # fmt: skip
    except (CleverError, SyncAlreadyRunning) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    modes = [o.mode for o in result.districts.values() if o.ok]
    ok = len(modes)
    click.echo(
        f"Synced {ok} of {len(result.districts)} districts ({modes.count('full')} full, "
        f"{modes.count('incremental')} incremental) in {result.duration_s:.1f}s: {result.records:,} records, "
        f"{result.requests:,} requests. Sync run {result.run_id}, cache {settings.db_path}.",
        err=True,
    )
    if result.failed:
        click.echo(f"{len(result.failed)} district(s) failed and kept their previous data:", err=True)
        for district_id, message in sorted(result.failed.items()):
            click.echo(f"  {district_id}: {message}", err=True)
        sys.exit(1)


@click.command("status")
@format_option
@db_option
@friendly_errors
def status_command(output_format: str, db_path: Path | None) -> None:
    """One line per district: LMS state, health, owner, matching and failed pushes."""
    from lmsdata.db import connect
    from lmsdata.status import COLUMNS, district_rows

    settings = cached_settings(db_path)
    with connect(settings.db_path) as db:
        rows = district_rows(db)
    if not rows and output_format == "table":
        click.echo("The cache has no districts yet: run `lmsdata sync`.", err=True)
        return
    emit(rows, output_format, TABLE_COLUMNS if output_format == "table" else COLUMNS)
