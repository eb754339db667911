"""`lmsdata sync` and `lmsdata status` as a support person runs them, against the loopback sandbox."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata import demo
from lmsdata.cli import cli
from lmsdata.config import DEMO_DB_PATH, load_settings
from lmsdata.db import connect
from lmsdata.health import STATUS_BY_NAME
from lmsdata.sandbox import Sandbox
from lmsdata.status import COLUMNS, district_rows
from tests.sync_fixtures import CLIENT_ID, CLIENT_SECRET, served

CREDENTIALS = {"CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET, "LMSDATA_DB": None}
NO_CREDENTIALS = {"CLEVER_CLIENT_ID": None, "CLEVER_CLIENT_SECRET": None, "LMSDATA_DB": None}


@pytest.fixture
def sandbox_and_url() -> Iterator[tuple[Sandbox, str]]:
    with served() as pair:
        yield pair


def run(*args: str, env: dict[str, str | None] = CREDENTIALS):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_sync_without_credentials_says_how_to_configure_them(db_path: Path) -> None:
    result = run("sync", "--db", str(db_path), env=NO_CREDENTIALS)
    assert result.exit_code == 2
    assert "CLEVER_CLIENT_ID" in result.stderr and "--sandbox URL" in result.stderr


def test_sync_and_status_end_to_end(sandbox_and_url: tuple[Sandbox, str], db_path: Path) -> None:
    sandbox, url = sandbox_and_url
    result = run("sync", "--sandbox", url, "--db", str(db_path))
    assert result.exit_code == 0, result.stderr
    assert "Synced 12 of 12 districts (12 full, 0 incremental)" in result.stderr

    victim = sandbox.district_ids()[0]
    sandbox.revoke_token(victim)
    result = run("sync", "--sandbox", url, "--db", str(db_path))
    assert result.exit_code == 1
    assert "Synced 11 of 12 districts (0 full, 11 incremental)" in result.stderr
    assert f"  {victim}: No token for district" in result.stderr

    table = run("status", "--db", str(db_path))
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split()[:5] == ["id", "name", "lms_type", "lms_state", "health"]
    assert len(lines) == 1 + len(sandbox.district_ids())

    rows = json.loads(run("status", "--db", str(db_path), "--format", "json").output)
    assert [list(r) for r in rows] == [list(COLUMNS)] * len(rows)
    by_id = {r["id"]: r for r in rows}
    assert by_id[victim]["health"] == "action_needed" and by_id[victim]["owner"] == "district"
    assert "No token for district" in by_id[victim]["last_sync_error"]
    victim_reason = by_id[victim]["reasons"][0]  # the JSON carries every reason, most urgent first
    assert (victim_reason["kind"], victim_reason["owner"]) == ("sync_error", "district")
    assert "No token for district" in victim_reason["figure"]
    healthy = [r for r in rows if r["health"] == "healthy"]
    assert all(r["reasons"] == [] for r in healthy) and all(r["reasons"] for r in rows if r not in healthy)
    assert all(r["health"] in STATUS_BY_NAME for r in rows)
    for did in sandbox.district_ids():
        served_district = sandbox.district(did)
        assert (by_id[did]["name"], by_id[did]["lms_state"]) == (served_district["name"],
                                                                   served_district["lms_state"])
    not_connected = [r for r in rows if not r["lms_state"]]
    assert not_connected and all(r["health"] in ("not_connected", "action_needed") for r in not_connected)

    parsed = list(csv.DictReader(io.StringIO(run("status", "--db", str(db_path), "--format", "csv").output)))
    assert [r["id"] for r in parsed] == [r["id"] for r in rows]


def test_status_rows_put_the_most_urgent_first_and_count_failed_pushes(
    sandbox_and_url: tuple[Sandbox, str], db_path: Path
) -> None:
    _, url = sandbox_and_url
    assert run("sync", "--sandbox", url, "--db", str(db_path)).exit_code == 0
    with connect(db_path) as db:
        healthy = next(r for r in district_rows(db) if r["health"] == "healthy")
        for n in range(2):
            db.execute(
                "INSERT INTO pushes (district_id, section_id, assignment_key, kind, payload, state, source, "
                "created_at, updated_at) VALUES (?, 's', ?, 'assignment_create', '{}', 'failed', 'api', "
                "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
                [healthy["id"], f"a{n}"],
            )
        db.conn.commit()
        rows = district_rows(db)
    row = next(r for r in rows if r["id"] == healthy["id"])
    assert row["failed_pushes"] == 2 and row["health"] != "healthy"
    urgencies = [list(STATUS_BY_NAME).index(r["health"]) for r in rows]
    assert urgencies == sorted(urgencies)


def test_a_mistyped_district_fails_without_leaving_a_row(sandbox_and_url: tuple[Sandbox, str], db_path: Path) -> None:
    _, url = sandbox_and_url
    result = run("sync", "--sandbox", url, "--db", str(db_path), "--district", "not-a-district")
    assert result.exit_code == 1 and "not-a-district: No token for district" in result.stderr
    with connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM districts").fetchone()[0] == 0


def test_status_without_a_cache_says_to_sync_first(tmp_path: Path) -> None:
    result = run("status", "--db", str(tmp_path / "missing.db"))
    assert result.exit_code == 2 and "run `lmsdata sync` first" in result.stderr


def test_status_without_credentials_reads_the_demo_the_dashboard_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`scripts/demo` builds cache/demo.db; `lmsdata status` with no credentials shows those districts."""
    monkeypatch.chdir(tmp_path)
    env = demo.start(demo.demo_db_path(load_settings(env={}).db_path))
    try:
        demo.build(env)
        # While the demo runs, the CLI reaches its sandbox with `--sandbox demo`, without credentials.
        synced = run("sync", "--sandbox", "demo", env=NO_CREDENTIALS)
        assert synced.exit_code == 0, synced.output
        dry = run("retry", "--all-failed", "--dry-run", "--sandbox", "demo", "--format", "json", env=NO_CREDENTIALS)
        assert dry.exit_code == 0, dry.output
        assert any(item["outcome"] == "ready" for item in json.loads(dry.stdout))
        with connect(DEMO_DB_PATH) as db:
            open_ones = {r["district_id"] for r in db.query("SELECT district_id FROM invitations WHERE state = 'sent'")}
            uninvited = [r["id"] for r in db.query("SELECT id FROM districts WHERE COALESCE(lms_state, '') = ''")
                         if r["id"] not in open_ones]  # fmt: skip
        invited = run("invite", uninvited[0], "--email", "it@district.example.org", env=NO_CREDENTIALS)
        assert invited.exit_code == 0, invited.output
        assert env.mail_sink.messages[-1]["To"] == "it@district.example.org"  # the demo's own mail sink
    finally:
        env.close()
    stopped = run("sync", "--sandbox", "demo", env=NO_CREDENTIALS)
    assert stopped.exit_code != 0  # the demo is gone: a plain error, not a hang
    with connect(DEMO_DB_PATH) as db:
        names = {r["name"] for r in db.query("SELECT name FROM districts")}
    rows = json.loads(run("status", "--format", "json", env=NO_CREDENTIALS).output)
    assert names and {r["name"] for r in rows} == names
    table = run("status", env=NO_CREDENTIALS).output
    assert all(name in table for name in names)
