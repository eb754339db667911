"""`lmsdata worker` (the second service beside the dashboard) and `lmsdata worker status`."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import click

from lmsdata.cli._common import (
    cached_settings,
    clever_settings,
    db_option,
    emit,
    format_option,
    friendly_errors,
    sandbox_option,
)


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(worker_group)


def _now() -> datetime:
    return datetime.now(UTC)


@click.group("worker", invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Worker settings (TOML; default: $LMSDATA_WORKER_CONFIG, else every default).")
@click.option("--wait", is_flag=True, help="If another worker holds this cache, wait for it instead of exiting.")
@click.option("--tick", default=15.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between checks for due jobs.")
@sandbox_option
@db_option
@click.pass_context
@friendly_errors
def worker_group(ctx: click.Context, config_path: Path | None, wait: bool, tick: float, sandbox_url: str | None,
                 db_path: Path | None) -> None:
    """Run the jobs on their schedules until SIGTERM or Ctrl-C: sync and alert rules, the nightly full
    sync, invitation expiry, notification delivery. One worker per cache; the current step finishes
    before it stops.
    """
    if ctx.invoked_subcommand is not None:
        return
    from lmsdata.worker.config import load_worker_config
    from lmsdata.worker.jobs import build_jobs
    from lmsdata.worker.lease import LeaseHeld
    from lmsdata.worker.runner import Worker

    settings = clever_settings(db_path, sandbox_url, "worker")
    config = load_worker_config(config_path or os.environ.get("LMSDATA_WORKER_CONFIG") or None)
    from lmsdata.worker.watch import worker_started

    def started(last: datetime | None) -> None:
        worker_started(settings.db_path, last, _now(), silent_minutes=config.alerts.worker_silent_minutes,
                       renotify_hours=config.alerts.renotify_hours, channels=config.channels)

    stop = threading.Event()
    worker = Worker(settings.db_path, build_jobs(settings, config, _now, stop), now=_now, lease_s=config.lease_s,
                    stop=stop, on_start=started)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop.set())
    told = False
    while not worker.stop.is_set():
        try:
            worker.start()
            break
        except LeaseHeld as exc:
            if not wait:
                click.echo(f"Error: {exc}. Stop it first, or start this one with --wait.", err=True)
                sys.exit(2)
            if not told:
                click.echo(f"Waiting: {exc}.", err=True)
                told = True
            worker.stop.wait(min(5.0, config.lease_s / 4))
    if worker.stop.is_set():  # SIGTERM while starting: a lease taken a moment ago is given back
        from lmsdata.db import connect
        from lmsdata.worker.lease import release

        with connect(settings.db_path) as db:
            release(db, worker.owner)
        return
    click.echo(f"Worker {worker.owner} running on {settings.db_path}; SIGTERM or Ctrl-C stops it.", err=True)
    try:
        worker.run(tick_s=tick)
    except LeaseHeld as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    click.echo("Worker stopped; the cache is free for another worker.", err=True)


JOB_COLUMNS = ("job", "last_started_at", "last_finished_at", "last_outcome", "next_run_at", "last_detail")


@worker_group.command("status")
@format_option
@db_option
@friendly_errors
def status_command(output_format: str, db_path: Path | None) -> None:
    """Is a worker running on this cache, each job's last and next run, and pushes handed to a person."""
    from lmsdata.db import connect
    from lmsdata.worker.status import read, summary

    settings = cached_settings(db_path)
    now = _now()
    with connect(settings.db_path) as db:
        status = read(db, now)
    healthy, line = summary(status, now)
    if output_format == "json":
        click.echo(json.dumps({**dataclasses.asdict(status), "healthy": healthy, "summary": line}, indent=2))
        return
    click.echo(line, err=True)
    emit(list(status.jobs.values()), output_format, JOB_COLUMNS)
    if status.retries:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(status.retries.items()))
        click.echo(f"Automatic retries: {counts}.", err=True)
    for row in status.handed_off:
        click.echo(f"  push {row['push_id']} ({row['district_id']}): {row['note']}", err=True)
