"""`lmsdata backup DEST`, `lmsdata restore SRC` and `lmsdata retention`: keeping the data only we hold."""

from __future__ import annotations

from pathlib import Path

import click

from lmsdata import backup as backups
from lmsdata import retention
from lmsdata.cli._common import actor_option, db_option, default_actor, friendly_errors, settings_for


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(backup_command)
    cli.add_command(restore_command)
    cli.add_command(retention_command)


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} KB"


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@actor_option
@db_option
@friendly_errors
def backup_command(dest: Path, actor: str | None, db_path: Path | None) -> None:
    """Copy the cache to DEST while the dashboard, sync and worker keep writing (checked before DEST appears)."""
    info = backups.backup(settings_for(db_path).db_path, dest, actor=default_actor(actor))
    click.echo(f"Backed up to {info.path} ({_size(info.size_bytes)}, schema version {info.schema_version}).")


@click.command("restore")
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the existing cache (take a backup of it first).")
@actor_option
@db_option
@friendly_errors
def restore_command(src: Path, force: bool, actor: str | None, db_path: Path | None) -> None:
    """Put the backup SRC in place of the cache, after checking its integrity and schema version."""
    info = backups.restore(src, settings_for(db_path).db_path, force=force, actor=default_actor(actor))
    click.echo(f"Restored {src} to {info.path} (schema version {info.schema_version}).")


@click.command("retention")
@click.option("--days", type=click.IntRange(1), default=None,
              help=f"Trim after this many days (default: ${retention.RETAIN_ENV} or {retention.DEFAULT_RETAIN_DAYS}).")
@click.option("--dry-run", is_flag=True, help="Only say what would be trimmed.")
@click.option("--vacuum", is_flag=True,
              help="Also switch the cache to incremental vacuum (one full VACUUM; stop the dashboard first).")
@db_option
@friendly_errors
def retention_command(days: int | None, dry_run: bool, vacuum: bool, db_path: Path | None) -> None:
    """Clear Clever's answers to old, sent pushes; the pushes, their outcomes and the audit log stay."""
    try:
        days = days or retention.retain_days_from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    result = retention.trim_attempt_bodies(settings_for(db_path).db_path, days, dry_run=dry_run, vacuum=vacuum)
    verb = "Would trim" if dry_run else "Trimmed"
    click.echo(f"{verb} {result.attempts_trimmed} attempt messages ({_size(result.bytes_trimmed)}) of pushes sent "
               f"before {result.cutoff}; {result.pages_reclaimed} free pages returned to the disk.")
