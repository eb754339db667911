"""`lmsdata alerts ...`: list, acknowledge and snooze alerts, and watch for a silent worker (cron)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from lmsdata.cli._common import (
    ROW_ID,
    actor_option,
    cached_settings,
    db_option,
    default_actor,
    emit,
    format_option,
    friendly_errors,
)

COLUMNS = ("id", "state", "rule", "subject", "opened_at", "notifications", "last_notified_at", "acked_by",
           "snoozed_until", "resolved_at", "detail")


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(alerts_group)


def _now() -> datetime:
    return datetime.now(UTC)


@click.group("alerts")
def alerts_group() -> None:
    """What the worker's alert rules found: list, acknowledge, snooze; `watch` for a silent worker."""


@alerts_group.command("list")
@click.option("--state", type=click.Choice(["open", "resolved", "all"]), default="all", show_default=True)
@click.option("--rule", default=None, help="Only this rule (e.g. failed_pushes).")
@click.option("--district", "subject", default=None, help="Only this subject (a district id, cluster:KEY, worker).")
@format_option
@db_option
@friendly_errors
def list_command(state: str, rule: str | None, subject: str | None, output_format: str,
                 db_path: Path | None) -> None:
    """Open alerts first, newest first."""
    from lmsdata.db import connect
    from lmsdata.worker.alerts import list_alerts

    with connect(cached_settings(db_path).db_path) as db:
        rows = list_alerts(db, state=None if state == "all" else state, rule=rule, subject=subject)
    emit(rows, output_format, COLUMNS)


@alerts_group.command("ack")
@click.argument("alert_id", type=ROW_ID)
@db_option
@actor_option
@friendly_errors
def ack_command(alert_id: int, db_path: Path | None, actor: str | None) -> None:
    """Acknowledge ALERT_ID: no more re-notifications (its resolution still notifies). Audited."""
    from lmsdata.worker.alerts import AlertError, acknowledge

    try:
        acknowledge(cached_settings(db_path).db_path, default_actor(actor), alert_id, _now())
    except AlertError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Alert {alert_id} acknowledged.")


@alerts_group.command("snooze")
@click.argument("alert_id", type=ROW_ID)
@click.option("--until", "until", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
              help="UTC: YYYY-MM-DD or 'YYYY-MM-DD HH:MM'.")
@db_option
@actor_option
@friendly_errors
def snooze_command(alert_id: int, until: datetime, db_path: Path | None, actor: str | None) -> None:
    """No re-notification for ALERT_ID before --until (then the usual schedule). Audited."""
    from lmsdata.worker.alerts import AlertError, snooze

    try:
        snooze(cached_settings(db_path).db_path, default_actor(actor), alert_id, until.replace(tzinfo=UTC), _now())
    except AlertError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Alert {alert_id} snoozed until {until:%Y-%m-%d %H:%M} UTC.")


@alerts_group.command("watch")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Worker settings (TOML; default: $LMSDATA_WORKER_CONFIG): thresholds and channels.")
@db_option
@friendly_errors
def watch_command(config_path: Path | None, db_path: Path | None) -> None:
    """Open (or resolve) the worker-silent alert and deliver it: run from cron or a systemd timer."""
    from lmsdata.worker.config import load_worker_config
    from lmsdata.worker.watch import watch

    config = load_worker_config(config_path or os.environ.get("LMSDATA_WORKER_CONFIG") or None)
    click.echo(watch(cached_settings(db_path).db_path, config, _now()))
