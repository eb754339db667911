"""Worker status: the one verdict (running / silent / stopped / never) as a table, the sidebar line built
from it, `lmsdata worker status --format json`, and the sidebar rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.pushes.log import iso
from lmsdata.worker import lease, schedule
from lmsdata.worker.status import read, summary, verdict

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("heartbeat_minutes_ago", "ever_ran", "expected"), [
    (0.5, True, "running"),
    (9, True, "running"),
    (11, True, "silent"),
    (None, True, "stopped"),
    (None, False, "never"),
])  # fmt: skip
def test_verdict(heartbeat_minutes_ago: float | None, ever_ran: bool, expected: str) -> None:
    holder = None if heartbeat_minutes_ago is None else \
        {"heartbeat_at": iso(NOW - timedelta(minutes=heartbeat_minutes_ago))}
    assert verdict(holder, ever_ran, NOW) == expected


def _worker_ran(db_path: Path, *, heartbeat_ago: timedelta | None) -> None:
    with connect(db_path) as db:
        if heartbeat_ago is not None:
            lease.acquire(db, "host:1:a", NOW - heartbeat_ago, 120)
        schedule.started(db, "sync", NOW - timedelta(minutes=3, seconds=10))
        schedule.finished(db, "sync", NOW - timedelta(minutes=3), NOW + timedelta(minutes=12), "ok", "synced")


def test_sidebar_line_says_last_and_next_sync_or_warns(db_path: Path) -> None:
    _worker_ran(db_path, heartbeat_ago=timedelta(seconds=30))
    with connect(db_path) as db:
        assert summary(read(db, NOW), NOW) == (True, "worker: last sync 3 min ago, next in 12 min")
        later = NOW + timedelta(minutes=30)
        healthy, line = summary(read(db, later), later)
        assert not healthy and line.startswith("worker: no heartbeat for 30 min (last sync 33 min ago)")
        lease.release(db, "host:1:a")
        healthy, line = summary(read(db, NOW), NOW)
        assert not healthy and "not running" in line and "lmsdata worker" in line


def test_status_command_json(db_path: Path) -> None:
    with connect(db_path) as db:
        db.execute("INSERT INTO auto_retries (push_id, attempts, state, note, updated_at) "
                   "VALUES (9, 7, 'handed_off', 'handed to a person', ?)", [iso(NOW)])
    _worker_ran(db_path, heartbeat_ago=timedelta(seconds=1))
    result = CliRunner().invoke(cli, ["worker", "status", "--db", str(db_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["jobs"]["sync"]["last_outcome"] == "ok" and shown["retries"] == {"handed_off": 1}
    assert shown["summary"].startswith("worker:") and shown["state"] in ("running", "silent")


def _sidebar(db_path: str) -> None:
    from datetime import UTC, datetime

    from lmsdata.ui.worker_status import worker_sidebar

    worker_sidebar(db_path, datetime.now(UTC))


def test_sidebar_warns_when_no_worker_runs(db_path: Path) -> None:
    with connect(db_path):
        pass
    at = AppTest.from_function(_sidebar, args=(str(db_path),)).run()
    assert not at.exception
    assert "worker: not running (no sync yet)" in at.sidebar.warning[0].value
