"""The worker-silent alert: `watch` (what `lmsdata alerts watch` runs from cron) opens it once when the
worker has been quiet too long and delivers it itself; the worker resolves it when it starts again, and
reports a gap nobody watched when it starts after one. Delivered to a real webhook receiver on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lmsdata.db import connect
from lmsdata.worker.alerts import list_alerts
from lmsdata.worker.config import AlertThresholds, Channel, WorkerConfig
from lmsdata.worker.notify import deliver
from lmsdata.worker.runner import Job, Worker
from lmsdata.worker.watch import watch, worker_started
from tests.test_worker_alerts import Receiver, receiver  # noqa: F401  (the loopback webhook fixture)

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _worker(db_path: Path, clock: list[datetime], config: WorkerConfig, owner: str) -> Worker:
    def started(last: datetime | None) -> None:
        worker_started(db_path, last, clock[0], silent_minutes=config.alerts.worker_silent_minutes,
                       renotify_hours=config.alerts.renotify_hours, channels=config.channels)

    jobs = {"sync": Job(lambda: "synced", lambda at: at + timedelta(minutes=15))}
    return Worker(db_path, jobs, now=lambda: clock[0], owner=owner, on_start=started)


def _ran_once_and_stopped(db_path: Path, clock: list[datetime], config: WorkerConfig) -> None:
    worker = _worker(db_path, clock, config, "h:1:a")
    worker.start()
    worker.cycle()
    worker.stop.set()
    worker.run(wait=lambda s: None)


def test_a_silent_worker_is_reported_once_by_the_watch_and_resolved_when_it_starts_again(
    db_path: Path, receiver: tuple[Receiver, str]  # noqa: F811
) -> None:
    state, url = receiver
    config = WorkerConfig(channels=(Channel(url),), alerts=AlertThresholds(worker_silent_minutes=60))
    clock = [START]
    assert watch(db_path, config, START).startswith("the worker is running")  # never ran: nothing to say
    _ran_once_and_stopped(db_path, clock, config)
    assert "running" in watch(db_path, config, START + timedelta(minutes=59))
    assert "not been heard from for 61 min" in watch(db_path, config, START + timedelta(minutes=61))
    watch(db_path, config, START + timedelta(minutes=90))  # still silent: no second notification
    assert [m["title"] for m in state.received] == ["Alert: worker_silent (worker)"]

    clock[0] = START + timedelta(hours=2)
    _worker(db_path, clock, config, "h:2:b").start()
    with connect(db_path) as db:
        deliver(db, config.channels, clock[0])
        [alert] = list_alerts(db, rule="worker_silent")
    assert alert["state"] == "resolved" and alert["notifications"] == 1
    assert [m["title"] for m in state.received][1:] == ["Resolved: worker_silent (worker)"]


def test_a_worker_starting_after_an_unwatched_gap_says_so_and_a_short_restart_says_nothing(
    db_path: Path, receiver: tuple[Receiver, str]  # noqa: F811
) -> None:
    state, url = receiver
    config = WorkerConfig(channels=(Channel(url),))
    clock = [START]
    _ran_once_and_stopped(db_path, clock, config)
    clock[0] = START + timedelta(minutes=30)
    _ran_once_and_stopped(db_path, clock, config)  # a deploy's restart: within the 60 minutes
    clock[0] = START + timedelta(hours=5)
    _worker(db_path, clock, config, "h:3:c").start()
    with connect(db_path) as db:
        deliver(db, config.channels, clock[0])
        alerts = list_alerts(db, rule="worker_silent")
    assert [a["state"] for a in alerts] == ["resolved"]
    assert "not been heard from for 270 min" in alerts[0]["detail"] and "started again" in alerts[0]["detail"]
    assert [m["title"] for m in state.received] == ["Alert: worker_silent (worker)",
                                                   "Resolved: worker_silent (worker)"]


def test_the_watch_command_opens_the_alert_for_a_worker_that_stopped_long_ago(db_path: Path) -> None:
    from click.testing import CliRunner

    from lmsdata.cli import cli

    long_ago = [datetime.now(UTC) - timedelta(hours=3)]
    _ran_once_and_stopped(db_path, long_ago, WorkerConfig())
    watched = CliRunner().invoke(cli, ["alerts", "watch", "--db", str(db_path)])
    assert watched.exit_code == 0, watched.output
    assert "the worker has not been heard from for 180 min" in watched.output
    listed = CliRunner().invoke(cli, ["alerts", "list", "--db", str(db_path), "--state", "open", "--format", "csv"])
    assert "worker_silent,worker" in listed.output
