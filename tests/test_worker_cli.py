"""`lmsdata worker` in a real subprocess against the loopback sandbox: it syncs, a second worker is
refused, SIGTERM stops it cleanly (exit 0) and gives the cache back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lmsdata.db import connect
from lmsdata.worker import lease, schedule
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET


def _command(sandbox_url: str, db_path: Path, config: Path) -> list[str]:
    return [sys.executable, "-m", "lmsdata", "worker", "--sandbox", sandbox_url, "--db", str(db_path),
            "--config", str(config), "--tick", "0.1"]


def _synced(db_path: Path) -> dict | None:  # type: ignore[type-arg]
    with connect(db_path) as db:
        row = schedule.jobs(db).get("sync")
    return row if row and row["last_finished_at"] else None


def test_worker_syncs_refuses_a_second_worker_and_stops_on_sigterm(
    sandbox_url: str, db_path: Path, tmp_path: Path
) -> None:
    config = tmp_path / "worker.toml"
    config.write_text("[schedules]\nsync_s = 3600\n", encoding="utf-8")
    with connect(db_path):
        pass  # the cache exists before the worker and this test both open it (no two processes migrating)
    env = {**os.environ, "CLEVER_CLIENT_ID": SANDBOX_CLIENT_ID, "CLEVER_CLIENT_SECRET": SANDBOX_CLIENT_SECRET}
    first = subprocess.Popen(_command(sandbox_url, db_path, config), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _synced(db_path) is None and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        row = _synced(db_path)
        assert row is not None, first.stderr.read() if first.poll() is not None else "no sync recorded in 60 s"
        assert row["last_outcome"] == "ok" and "sync run" in row["last_detail"], row
        with connect(db_path) as db:
            assert db.execute("SELECT COUNT(*) FROM sync_runs").fetchone()[0] >= 1
            assert lease.holder(db) is not None

        second = subprocess.run(_command(sandbox_url, db_path, config), env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 2
        message = second.stderr.strip().splitlines()
        assert len(message) == 1 and "another worker" in message[0] and "--wait" in message[0], second.stderr

        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert "Worker stopped" in err
        with connect(db_path) as db:
            assert lease.holder(db) is None
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
