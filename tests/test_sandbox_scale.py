"""Scales, determinism, lazy generation, the bounded cache, and the `lmsdata sandbox` command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime

import httpx
import pytest
from sandbox_fixtures import FakeClock, client_for, first_link, served

from lmsdata.sandbox import Sandbox
from lmsdata.sandbox.data import STATE_VALUES


def test_large_is_lazy_yet_has_the_promised_size() -> None:
    sandbox = Sandbox(seed=7, scale="large")
    assert sandbox.world.generated == 0  # nothing generated until asked
    plans = sandbox.world.plans
    assert len(sandbox.district_ids()) == len(plans) >= 500
    assert sum(p.users for p in plans) >= 1_000_000
    big = [p for p in plans if p.users > 50_000]
    assert len(big) >= 3
    small = next(p for p in plans if 200 < p.users < 400)
    with served(scale="large") as (served_box, url):
        did = served_box.district_ids()[small.index]
        with client_for(served_box, url, did) as client:
            users = client.get("/v3.1/users", params={"limit": 10000}).json()["data"]
            assert len(users) == small.users
            assert client.get("/v3.1/districts").json()["data"][0]["data"]["id"] == did
        assert served_box.world.generated == 1
        listing = httpx.get(f"{url}/__sandbox/districts").json()["result"]  # a listing generates nothing
        assert len({d["name"] for d in listing}) == len(plans) and served_box.world.generated == 1
        assert listing[small.index] == {k: served_box.district(did)[k] for k in ("id", "name", "lms_type", "lms_state")}


def test_same_seed_same_bytes_other_seed_other_world() -> None:
    clock = FakeClock()
    one, two, other = (Sandbox(seed=s, scale="demo", clock=clock) for s in (7, 7, 8))
    did = one.district_ids()[2]
    assert one.world.base(2).users.blobs == two.world.base(2).users.blobs
    assert one.sections(did) == two.sections(did)
    assert one.token_for(did) == two.token_for(did) != other.token_for(other.district_ids()[2])
    assert not set(one.district_ids()) & set(other.district_ids())


def test_changes_survive_eviction_from_the_bounded_cache() -> None:
    sandbox = Sandbox(seed=3, scale="demo", cache_weight=1)  # keep one generated district at a time
    first, second = sandbox.district_ids()[:2]
    student = next(u for u in sandbox.users(first, role="student") if u["lms_status"]["synced_in_lms"])
    sandbox.set_user_matched(student["id"], False)
    sandbox.users(second)
    assert list(sandbox.world._cache) == [1]  # the first district was evicted
    assert sandbox.user(student["id"])["lms_status"] == {"synced_in_lms": False}
    assert student["id"] in [u["id"] for u in sandbox.users(first, role="student")]
    assert sandbox.world.generated == 3


def test_demo_covers_every_lms_state_lms_and_failure_kind() -> None:
    sandbox = Sandbox(seed=7, scale="demo")
    districts = [sandbox.district(d) for d in sandbox.district_ids()]
    assert len(districts) == 12 and 2000 < sum(len(sandbox.users(d["id"])) for d in districts) < 6000
    assert {d["lms_state"] for d in districts} == set(STATE_VALUES)
    assert {d["lms_type"] for d in districts} >= {"canvas", "google_classroom", "schoology", "", None}
    now = datetime.now(UTC)
    ages = [(now - datetime.fromisoformat(d["last_lms_sync"])).total_seconds() / 3600
            for d in districts if d["lms_state"] == "success"]
    assert min(ages) < 6 and max(ages) > 48  # fresh and stale syncs
    connected = [d for d in districts if d["lms_state"] == "success"]
    assert any(d["lms_matched_percentage"]["students"] < 95 for d in connected)
    assert any(d["lms_matched_percentage"]["students"] >= 97 for d in connected)
    unconnected = next(d for d in districts if d["lms_state"] == "")
    assert all(u["lms_status"] is None for u in sandbox.users(unconnected["id"]))
    schoology = next(d["id"] for d in connected if d["lms_type"] == "schoology")
    assert any(not sandbox.has_launched(u["id"]) for u in sandbox.users(schoology, role="student"))
    for district in districts:
        roster = sandbox.users(district["id"])
        assert {"district_admin", "staff", "teacher", "student"} == {next(iter(u["roles"])) for u in roster}
        student = next(u for u in roster if "student" in u["roles"])
        assert re.fullmatch(r"\d{7}", student["roles"]["student"]["sis_id"])
        contact = district["district_contact"]
        assert contact["email"] is None or re.fullmatch(r"[a-z'.]+@[a-z0-9]+\.org", contact["email"])
        sections = sandbox.sections(district["id"])
        assert all(s["teacher"] in s["teachers"] and s["students"] for s in sections)


def test_section_listing_pages_agree_with_in_process_reads() -> None:
    with served(scale="demo") as (sandbox, url):
        did = sandbox.district_ids()[3]
        with client_for(sandbox, url, did) as client:
            seen, uri = [], "/v3.1/sections?limit=50"
            while uri:
                payload = client.get(uri).json()
                seen += [item["data"] for item in payload["data"]]
                uri = first_link(payload, "next")
        assert seen == sandbox.sections(did)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_url_and_credentials_and_serves_until_stopped(stop: signal.Signals) -> None:
    command = [sys.executable, "-m", "lmsdata", "sandbox", "--port", "0", "--scale", "tiny",
               "--client-id", "cli-id", "--client-secret", "cli-secret", "--rate-limit", "50"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
        try:
            lines = [process.stdout.readline() for _ in range(4)]  # type: ignore[union-attr]
            url = re.search(r"http://127\.0\.0\.1:\d+", "".join(lines)).group(0)  # type: ignore[union-attr]
            assert "cli-id" in "".join(lines) and "cli-secret" in "".join(lines)
            tokens = httpx.get(f"{url}/oauth/tokens", params={"owner_type": "district"}, auth=("cli-id", "cli-secret"))
            assert tokens.status_code == 200 and len(tokens.json()["data"]) == 3
            assert tokens.headers["X-RateLimit-Limit"] == "50"
        finally:
            process.send_signal(stop)
            assert process.wait(timeout=10) == 0
            assert "Stopping." in process.stdout.read()  # type: ignore[union-attr]


def test_concurrent_first_requests_generate_a_district_once() -> None:
    with served(scale="demo") as (sandbox, url):
        did = sandbox.district_ids()[2]
        results: list[int] = []

        def fetch() -> None:
            with client_for(sandbox, url, did) as client:
                results.append(len(client.get("/v3.1/users", params={"limit": 10000}).json()["data"]))

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(results)) == 1 and len(results) == 6 and results[0] > 100
        assert sandbox.world.generated == 1
