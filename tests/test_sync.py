"""Sync against the sandbox over loopback HTTP: full, incremental, faults, revoked tokens, pacing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmsdata.client import ClientOptions
from lmsdata.db import connect
from lmsdata.errors import TokenRevoked
from lmsdata.sync import SyncAlreadyRunning, SyncProgress, _sync_lock, sync
from tests.sync_fixtures import CLIENT_ID, FAST_RETRIES, FakeTime, assert_mirrors, client_for, mirror_snapshot, served


def test_full_sync_mirrors_the_sandbox_with_the_minimum_of_requests(db_path: Path) -> None:
    progress: list[SyncProgress] = []
    with served() as (sandbox, url), client_for(url) as client:
        result = sync(client, db_path, full=True, on_progress=progress.append, actor="tester")
        stats = sandbox.stats()
    districts = sandbox.district_ids()
    assert result.failed == {} and set(result.districts) == set(districts)
    with connect(db_path) as db:
        for did in districts:
            assert_mirrors(db, sandbox, did)
        run = db.execute("SELECT mode, outcome, districts_total, requests, records FROM sync_runs").fetchone()
        assert run == ("full", "success", len(districts), result.requests, result.records)
        assert db.execute("SELECT COUNT(*) FROM district_history").fetchone()[0] == len(districts)
        audit_row = db.execute("SELECT actor, action, outcome FROM audit_log").fetchone()
        assert audit_row == ("tester", "sync", "ok")
    # token listing + per district: district, newest event, schools, terms, sections, users (all < 10000)
    assert result.requests == 1 + 6 * len(districts) == sum(stats["requests_by_route"].values())
    assert progress[-1].phase == "finished" and progress[-1].districts_done == len(districts)
    assert {p.phase for p in progress} >= {"listing", "pulling", "writing", "done"}


@pytest.mark.parametrize("faults", ["flaky", "hostile"])
def test_faults_cost_time_never_data(db_path: Path, faults: str) -> None:
    # Small pages multiply the requests (and so the faults); slow replies outlast the read timeout.
    options = ClientOptions(backoff_base=0.02, backoff_cap=0.2, read_timeout=1.0, data_page_limit=40)
    with served(faults=faults, slow_s=1.5, storm_requests=2) as (sandbox, url), client_for(url, options) as client:
        result = sync(client, db_path, full=True, concurrency=6)
        stats = sandbox.stats()
    assert sum(stats["faults"].values()) >= 5, stats["faults"]  # the run really met faults
    revoked = {sandbox.revoked_mid_run} if stats["faults"].get("revoked") else set()
    assert set(result.failed) == revoked
    with connect(db_path) as db:
        for did in set(sandbox.district_ids()) - revoked:
            assert_mirrors(db, sandbox, did)
        for did in revoked:
            error = db.execute("SELECT last_sync_error FROM districts WHERE id = ?", [did]).fetchone()[0]
            assert "token was refused" in error and sandbox.token_for(did) not in error


def test_hostile_profile_revokes_a_token_mid_run_and_only_that_district_fails(db_path: Path) -> None:
    options = ClientOptions(backoff_base=0.02, backoff_cap=0.2, read_timeout=1.0, data_page_limit=10)
    with served(faults="hostile", slow_s=1.5, storm_requests=2) as (sandbox, url):
        victim = sandbox.revoked_mid_run
        assert victim is not None
        pair = [victim, next(d for d in sandbox.district_ids() if d != victim)]
        with client_for(url, options) as client:
            result = sync(client, db_path, full=True, district_ids=pair)
        assert sandbox.stats()["faults"].get("revoked") == 1
        assert set(result.failed) == {victim}
        assert "token was refused" in result.failed[victim] and "403" in result.failed[victim]
        sandbox.restore_token(victim)
        with client_for(url, options) as client:
            again = sync(client, db_path, full=True, district_ids=[victim])
        assert again.failed == {}
        with connect(db_path) as db:
            for did in pair:
                assert_mirrors(db, sandbox, did)


def test_a_revoked_token_is_that_districts_error_and_keeps_its_data(db_path: Path) -> None:
    with served() as (sandbox, url):
        victim = sandbox.district_ids()[3]
        with client_for(url) as client:
            sync(client, db_path, full=True)
        with connect(db_path) as db:
            before = db.execute("SELECT COUNT(*) FROM users WHERE district_id = ?", [victim]).fetchone()[0]
        sandbox.revoke_token(victim)
        with client_for(url) as client:
            result = sync(client, db_path)
    assert set(result.failed) == {victim} and "No token for district" in result.failed[victim]
    with connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM users WHERE district_id = ?", [victim]).fetchone()[0] == before
        error, pulled = db.execute("SELECT last_sync_error, last_pulled_at FROM districts WHERE id = ?",
                                   [victim]).fetchone()
        assert "disconnected the app" in error and pulled is not None
        outcome = db.execute(
            "SELECT outcome, error FROM sync_run_districts WHERE run_id = ? AND district_id = ?",
            [result.run_id, victim],
        ).fetchone()
        assert outcome[0] == "failed" and outcome[1] == error
        run = db.execute("SELECT outcome, districts_failed FROM sync_runs WHERE id = ?", [result.run_id]).fetchone()
        assert run == ("partial", 1)
        assert db.execute("SELECT outcome FROM audit_log ORDER BY id DESC").fetchone()[0] == "partial"


def test_a_district_that_answers_403_mid_run_fails_alone(db_path: Path) -> None:
    with served() as (sandbox, url), client_for(url) as client:
        sandbox.inject("/v3.1/sections", status=403, body={"message": "Could not authorize token"})
        result = sync(client, db_path, full=True, concurrency=1)
        assert len(result.failed) == 1
        (victim, message), = result.failed.items()
        assert "Could not authorize token" in message
        with connect(db_path) as db:
            for did in set(sandbox.district_ids()) - {victim}:
                assert_mirrors(db, sandbox, did)
            # the failing district wrote nothing but its error
            assert db.execute("SELECT COUNT(*) FROM users WHERE district_id = ?", [victim]).fetchone()[0] == 0


def _change_the_sandbox(sandbox) -> None:  # type: ignore[no-untyped-def]
    """Matching progress, an lms_state change, users added and removed, in several districts."""
    districts = sandbox.district_ids()
    first, second, third = districts[0], districts[1], districts[3]
    unmatched = [u for u in sandbox.users(second, role="student") if not u["lms_status"]["synced_in_lms"]]
    for user in unmatched[:5]:
        sandbox.set_user_matched(user["id"], True)
    matched = [u for u in sandbox.users(first, role="teacher") if u["lms_status"]["synced_in_lms"]]
    sandbox.set_user_matched(matched[0]["id"], False)
    unsynced = [s for s in sandbox.sections(second) if not s["lms_status"]["synced_in_lms"]]
    sandbox.set_section_synced(unsynced[0]["id"], True)
    sandbox.set_lms_state(third, "success")
    sections = sandbox.sections(first)
    sandbox.add_user(first, role="student", section_ids=[sections[0]["id"], sections[1]["id"]])
    sandbox.add_user(first, role="teacher", section_ids=[sections[2]["id"]])
    sandbox.remove_user(sandbox.users(second, role="student")[0]["id"])
    sandbox.remove_user(sandbox.users(first, role="teacher")[-1]["id"])


def test_incremental_sync_equals_a_fresh_full_sync_with_far_fewer_requests(tmp_path: Path) -> None:
    incremental_db, fresh_db = tmp_path / "incremental.db", tmp_path / "fresh.db"
    with served() as (sandbox, url):
        with client_for(url) as client:
            full = sync(client, incremental_db)  # no cursor yet: every district is pulled in full
        assert {o.mode for o in full.districts.values()} == {"full"}
        _change_the_sandbox(sandbox)
        with client_for(url) as client:
            incremental = sync(client, incremental_db)
        with client_for(url) as client:
            fresh = sync(client, fresh_db, full=True)
    assert {o.mode for o in incremental.districts.values()} == {"incremental"}
    assert incremental.failed == {} and fresh.failed == {}
    with connect(incremental_db) as a, connect(fresh_db) as b:
        assert mirror_snapshot(a) == mirror_snapshot(b)
        for did in sandbox.district_ids():
            assert_mirrors(a, sandbox, did)
        events = a.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall()
        assert dict(events)["users.updated"] >= 6 and dict(events)["users.deleted"] == 2
        previous = a.execute("SELECT previous_attributes FROM events WHERE type = 'users.updated' LIMIT 1").fetchone()
        assert "synced_in_lms" in json.loads(previous[0])["lms_status"]
        # one history snapshot per pull: two per district in the incremental cache
        assert a.execute("SELECT COUNT(*) FROM district_history").fetchone()[0] == 2 * len(sandbox.district_ids())
    # listing + per district: the district object and one page of events
    assert incremental.requests == 1 + 2 * len(sandbox.district_ids())
    assert incremental.requests * 2 < fresh.requests


def test_a_refused_event_cursor_falls_back_to_a_full_pull(db_path: Path) -> None:
    with served() as (sandbox, url):
        with client_for(url) as client:
            sync(client, db_path)
        target = sandbox.district_ids()[0]
        sandbox.add_user(target, role="student")
        sandbox.inject("/v3.1/events", status=400, body={"message": "starting_after is not a valid event id"})
        with client_for(url) as client:
            result = sync(client, db_path, concurrency=1)
        assert result.failed == {}
        modes = [o.mode for o in result.districts.values()]
        assert modes.count("full") == 1 and modes.count("incremental") == len(modes) - 1
        with connect(db_path) as db:
            assert_mirrors(db, sandbox, target)


def test_pacing_keeps_a_low_rate_limit_free_of_429s(db_path: Path) -> None:
    fake = FakeTime()
    options = ClientOptions(backoff_base=0.02, backoff_cap=0.2, data_page_limit=2)
    with served(rate_limit=120, clock=fake.clock) as (sandbox, url):
        biggest = sorted(sandbox.district_ids(), key=lambda d: len(sandbox.users(d)))[-4:]
        with client_for(url, options, sleep=fake.sleep, clock=fake.clock) as client:
            result = sync(client, db_path, full=True, district_ids=biggest, concurrency=4)
        stats = sandbox.stats()
    per_district = [o.requests for o in result.districts.values()]
    assert min(per_district) > 2 * 120  # each token needed several rate-limit windows
    assert result.failed == {} and stats["rate_limited"] <= 1
    assert fake.slept >= 60  # the client waited for the windows to reset instead of hammering
    with connect(db_path) as db:
        for did in biggest:
            assert_mirrors(db, sandbox, did)


def test_a_second_sync_of_the_same_cache_is_refused_while_one_runs(db_path: Path) -> None:
    with (
        served(scale="tiny") as (_, url),
        client_for(url) as client,
        _sync_lock(db_path),
        pytest.raises(SyncAlreadyRunning, match="Another sync"),
    ):
        sync(client, db_path)


def test_wrong_credentials_fail_the_run_with_a_clear_message(db_path: Path) -> None:
    from lmsdata.client import CleverClient

    with served(scale="tiny") as (_, url):
        client = CleverClient(CLIENT_ID, "not-the-secret-123", api_url=url, oauth_url=url,
                              options=FAST_RETRIES)
        with client, pytest.raises(TokenRevoked, match="CLEVER_CLIENT_SECRET"):
            sync(client, db_path)
    with connect(db_path) as db:
        outcome, error = db.execute("SELECT outcome, error FROM sync_runs").fetchone()
        assert outcome == "failed" and "client id and secret" in error and "not-the-secret" not in error
        assert db.execute("SELECT outcome FROM audit_log").fetchone()[0] == "failed"


@pytest.mark.parametrize(
    ("progress", "said"),
    [
        (SyncProgress(None, "finished", 12, 12, 900), "12 of 12 districts · finished"),
        (SyncProgress("d-1", "pulling", 3, 12, 10), "3 of 12 districts · pulling d-1"),
        (SyncProgress(None, "listing", 0, 1, 0), "0 of 1 district · listing"),
    ],
)
def test_the_progress_text_names_no_missing_district(progress: SyncProgress, said: str) -> None:
    assert progress.describe() == said
