"""The worker's foundations on a real cache file: one worker per cache, missed schedules run once, config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata.config import ConfigError
from lmsdata.db import connect
from lmsdata.worker import lease, schedule
from lmsdata.worker.config import DEFAULT_BACKOFF_S, parse_worker_config

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_second_worker_on_the_same_cache_is_refused_until_the_first_lease_expires(db_path: Path) -> None:
    with connect(db_path) as db:
        lease.acquire(db, "otherhost:1:a", NOW, lease_s=120)
        with pytest.raises(lease.LeaseHeld, match="only one worker may run per cache"):
            lease.acquire(db, "otherhost:2:b", NOW + timedelta(seconds=60), lease_s=120)
        lease.heartbeat(db, "otherhost:1:a", NOW + timedelta(seconds=100), lease_s=120)
        with pytest.raises(lease.LeaseHeld):
            lease.acquire(db, "otherhost:2:b", NOW + timedelta(seconds=200), lease_s=120)
        lease.acquire(db, "otherhost:2:b", NOW + timedelta(seconds=221), lease_s=120)  # the first stopped renewing
        with pytest.raises(lease.LeaseHeld, match="took over"):
            lease.heartbeat(db, "otherhost:1:a", NOW + timedelta(seconds=222), lease_s=120)
        assert lease.holder(db)["owner"] == "otherhost:2:b"  # type: ignore[index]


def test_a_dead_local_worker_is_taken_over_at_once(db_path: Path) -> None:
    import socket

    with connect(db_path) as db:
        lease.acquire(db, f"{socket.gethostname()}:999999999:x", NOW, lease_s=3600)
        lease.acquire(db, f"{socket.gethostname()}:2:y", NOW, lease_s=3600)


def test_a_schedule_missed_during_downtime_runs_once_then_counts_from_now(db_path: Path) -> None:
    with connect(db_path) as db:
        schedule.plan_first(db, "sync", NOW)
        assert schedule.due(db, "sync", NOW)
        later = NOW + timedelta(hours=10)  # forty 15-minute runs missed while the laptop slept
        schedule.started(db, "sync", later)
        schedule.finished(db, "sync", later, schedule.next_after(later, every_s=900), "ok", "")
        assert not schedule.due(db, "sync", later + timedelta(minutes=14))
        assert schedule.due(db, "sync", later + timedelta(minutes=15))
        assert schedule.jobs(db)["sync"]["last_outcome"] == "ok"


def test_daily_jobs_run_at_their_time_of_day() -> None:
    assert schedule.next_after(NOW, daily_at="02:30") == datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
    assert schedule.next_after(NOW, daily_at="13:00") == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def test_config_defaults_overrides_and_one_clear_message_for_a_bad_key() -> None:
    config = parse_worker_config({
        "thresholds": {"match_target": 90},
        "districts": {"d1": {"match_target": 80}},
        "channels": [{"url": "json://127.0.0.1:9/hook-secret-token", "rules": ["lms_state_regression"]}],
    })
    assert config.backoff_s == DEFAULT_BACKOFF_S and sum(DEFAULT_BACKOFF_S) < 3.5 * 86400
    assert config.thresholds_for("d1").match_target == 80 and config.thresholds_for("d2").match_target == 90
    assert config.channels[0].receives("lms_state_regression") and not config.channels[0].receives("digest")
    assert "hook-secret-token" not in repr(config)
    with pytest.raises(ConfigError, match=r"\[alerts\] has unknown keys \['renotify'\]"):
        parse_worker_config({"alerts": {"renotify": 3}})
