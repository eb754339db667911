"""`lmsdata worker` in a real subprocess against the loopback sandbox: it syncs, a second worker is
refused, SIGTERM stops it cleanly (exit 0) and gives the cache back, a SIGKILLed one is taken over."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsdata.db import connect
from lmsdata.worker import lease, schedule
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET


def _command(sandbox_url: str, db_path: Path, config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lmsdata", "worker", "--sandbox", sandbox_url, "--db", str(db_path),
            "--config", str(config), "--tick", "0.1", *extra]


def _synced(db_path: Path) -> dict | None:  # type: ignore[type-arg]
    with connect(db_path) as db:
        row = schedule.jobs(db).get("sync")
    return row if row and row["last_finished_at"] else None


@pytest.fixture
def config(db_path: Path, tmp_path: Path) -> Path:
    """A worker config with a long sync interval, and the cache created before any process opens it
    (the worker and this test must not both run the migrations)."""
    with connect(db_path):
        pass
    config = tmp_path / "worker.toml"
    config.write_text("lease_s = 8\n[schedules]\nsync_s = 3600\n", encoding="utf-8")
    return config


def _env() -> dict[str, str]:
    return {**os.environ, "CLEVER_CLIENT_ID": SANDBOX_CLIENT_ID, "CLEVER_CLIENT_SECRET": SANDBOX_CLIENT_SECRET}


@contextlib.contextmanager
def _running(sandbox_url: str, db_path: Path, config: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """A worker subprocess, killed at the end if the test left it running."""
    process = subprocess.Popen(_command(sandbox_url, db_path, config, *extra), env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _wait_for(check, process: subprocess.Popen[str], what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while not check() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert check(), process.communicate()[1] if process.poll() is not None else f"{what} not seen in 60 s"


def test_worker_syncs_refuses_a_second_worker_and_stops_on_sigterm(
    sandbox_url: str, db_path: Path, config: Path
) -> None:
    with _running(sandbox_url, db_path, config) as first:
        _wait_for(lambda: _synced(db_path) is not None, first, "a sync")
        row = _synced(db_path)
        assert row["last_outcome"] == "ok" and "sync run" in row["last_detail"], row
        with connect(db_path) as db:
            assert db.execute("SELECT COUNT(*) FROM sync_runs").fetchone()[0] >= 1
            assert lease.holder(db) is not None

        second = subprocess.run(_command(sandbox_url, db_path, config), env=_env(), capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 2
        message = second.stderr.strip().splitlines()
        assert len(message) == 1 and "another worker" in message[0] and "--wait" in message[0], second.stderr

        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "Worker stopped" in err
    assert _owner(db_path) is None


def test_a_worker_killed_with_sigkill_does_not_block_the_next_one(
    sandbox_url: str, db_path: Path, config: Path
) -> None:
    with _running(sandbox_url, db_path, config) as killed:
        _wait_for(lambda: _synced(db_path) is not None, killed, "a sync")
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
    stale = _owner(db_path)
    assert stale is not None  # a killed worker cannot give the lease back

    with _running(sandbox_url, db_path, config) as restarted:
        # taken over at once: the holder's process is gone
        _wait_for(lambda: _owner(db_path) not in (None, stale), restarted, "the lease taken over")
        restarted.send_signal(signal.SIGTERM)
        _, err = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, err


def _owner(db_path: Path) -> str | None:
    with connect(db_path) as db:
        holder = lease.holder(db)
    return holder and holder["owner"]


def test_a_waiting_worker_takes_over_when_the_running_one_stops(
    sandbox_url: str, db_path: Path, config: Path
) -> None:
    with _running(sandbox_url, db_path, config) as first, contextlib.ExitStack() as stack:
        _wait_for(lambda: _synced(db_path) is not None, first, "a sync")
        running = _owner(db_path)
        waiting = stack.enter_context(_running(sandbox_url, db_path, config, "--wait"))
        assert waiting.stderr is not None and waiting.stderr.readline().startswith("Waiting: another worker")
        assert waiting.poll() is None and _owner(db_path) == running
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
        assert first.returncode == 0
        _wait_for(lambda: _owner(db_path) not in (None, running), waiting, "the waiting worker taking over")
        waiting.send_signal(signal.SIGTERM)
        waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and _owner(db_path) is None
