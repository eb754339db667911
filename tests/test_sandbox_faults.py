"""Fault profiles and injections, seen from a real HTTP client on loopback."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
from sandbox_fixtures import CLIENT_ID, CLIENT_SECRET, client_for, ready_setup, served

from lmsdata.sandbox import Sandbox


def _outcome(client: httpx.Client, path: str) -> str:
    try:
        response = client.get(path)
    except httpx.TimeoutException:
        return "timeout"
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return "dropped"
    if response.headers.get("content-type", "").startswith("text/html"):
        return f"html {response.status_code}"
    if response.status_code == 429:
        assert response.content == b"" and response.headers["X-RateLimit-Remaining"] == "0"
        assert int(response.headers["X-RateLimit-Reset"]) <= time.time() + 2  # storms are short
        return "429"
    try:
        response.json()
    except json.JSONDecodeError:
        return f"broken json {response.status_code}"
    return str(response.status_code)


def _run(sandbox: Sandbox, url: str, district: str, requests: int, timeout: float = 5) -> list[str]:
    with client_for(sandbox, url, district, timeout=httpx.Timeout(timeout, connect=2)) as client:
        return [_outcome(client, "/v3.1/users?limit=3") for _ in range(requests)]


def test_no_faults_profile_serves_every_request() -> None:
    with served(faults="none") as (sandbox, url):
        assert set(_run(sandbox, url, sandbox.district_ids()[0], 150)) == {"200"}
        assert sandbox.stats()["faults"] == {}


def test_flaky_is_a_few_percent_of_5xx_slow_and_dropped_and_deterministic() -> None:
    runs = []
    for _ in range(2):
        slept: list[float] = []
        with served(faults="flaky", slow_s=0.25, sleep=slept.append) as (sandbox, url):
            outcomes = _run(sandbox, url, sandbox.district_ids()[0], 400)
            runs.append(outcomes)
            counts = Counter(outcomes)
            assert {"502", "503", "dropped"} <= set(counts)
            assert 0.9 * 400 < counts["200"] < 400
            assert slept and set(slept) == {0.25}  # slow replies use the configured stall
            assert sandbox.stats()["faults"]["slow"] == len(slept)
    assert runs[0] == runs[1]


def test_hostile_storms_broken_bodies_html_timeouts_and_drops() -> None:
    # A storm is a number of requests (two here), not a time: however fast the server answers, the same
    # requests of this sequential client fall in storms on every run.
    with served(faults="hostile", slow_s=0.4, storm_requests=2) as (sandbox, url):
        district = next(d for d in sandbox.district_ids() if d != sandbox.revoked_mid_run)
        counts = Counter(_run(sandbox, url, district, 400, timeout=0.2))
        assert {"429", "html 502", "503", "broken json 200", "timeout", "dropped"} <= set(counts), counts
        assert counts["200"] > 200  # most requests still get through
        assert sandbox.stats()["rate_limited"] >= counts["429"]


def test_hostile_revokes_one_district_token_mid_run() -> None:
    with served(faults="hostile", slow_s=0.0, storm_requests=1) as (sandbox, url):
        target = sandbox.revoked_mid_run
        assert target in sandbox.district_ids()
        outcomes = _run(sandbox, url, target, 60)
        first_refusal = outcomes.index("403")
        assert first_refusal > 10 and "200" not in outcomes[first_refusal:]
        listed = httpx.get(f"{url}/oauth/tokens", params={"owner_type": "district"}, auth=(CLIENT_ID, CLIENT_SECRET))
        assert target not in [t["owner"]["id"] for t in listed.json()["data"]]
        sandbox.restore_token(target)
        assert "200" in _run(sandbox, url, target, 5)


def test_injections_hit_the_next_matching_requests_only() -> None:
    slept: list[float] = []
    with served(sleep=slept.append) as (sandbox, url):
        did = sandbox.district_ids()[0]
        with client_for(sandbox, url, did) as client:
            sandbox.inject("/v3.1/users", status=503, count=2)
            assert client.get("/v3.1/sections").status_code == 200  # other paths untouched
            assert [client.get("/v3.1/users").status_code for _ in range(3)] == [503, 503, 200]
            sandbox.inject("/v3.1/users", status=429)
            limited = client.get("/v3.1/users")
            assert (limited.status_code, limited.content) == (429, b"")
            assert "X-RateLimit-Reset" in limited.headers
            sandbox.inject("/v3.1/districts", status=502, body="<html><body>Bad Gateway</body></html>")
            html = client.get("/v3.1/districts")
            assert html.headers["content-type"].startswith("text/html") and html.status_code == 502
            sandbox.inject("/v3.1/terms", delay_s=30)
            assert client.get("/v3.1/terms").status_code == 200 and slept == [30]
            sandbox.inject("/v3.1/schools", drop=True)
            try:
                client.get("/v3.1/schools")
                raise AssertionError("the connection should have been dropped")
            except (httpx.RemoteProtocolError, httpx.ReadError):
                pass
            httpx.post(f"{url}/__sandbox/inject", json={"path_contains": "/v3.1/users", "status": 500,
                                                         "method": "PATCH"}).raise_for_status()
            assert client.get("/v3.1/users").status_code == 200  # the method must match too
        assert sandbox.stats()["rate_limited"] == 1


def test_a_reply_lost_after_a_write_still_applies_the_write() -> None:
    """What makes an outcome unknown: the grade landed, the reply never came (or came too late)."""
    slept: list[float] = []
    with served(sleep=slept.append) as (sandbox, url):
        ids = ready_setup(sandbox, "canvas")
        with client_for(sandbox, url, ids["district"]) as client:
            body = {"title": "t", "description": "d", "due_date": "2031-01-01T00:00:00Z"}
            aid = client.post(f"/v3.1/sections/{ids['section']}/assignments", json=body).json()["data"]["id"]
            path = f"/v3.1/sections/{ids['section']}/assignments/{aid}/submissions/{ids['student']}"
            sandbox.inject("/submissions/", drop=True, after_handling=True)
            try:
                client.patch(path, json={"grade_points": 17})
                raise AssertionError("the reply should have been dropped")
            except (httpx.RemoteProtocolError, httpx.ReadError):
                pass
            assert sandbox.submission(ids["section"], aid, ids["student"])["grade_points"] == 17
            sandbox.inject("/assignments", delay_s=90, after_handling=True, method="POST")
            assert client.post(f"/v3.1/sections/{ids['section']}/assignments", json=body).status_code == 200
            assert slept == [90]
        assert [w["kind"] for w in sandbox.stats()["grade_writes"]] == [
            "assignment.create", "submission.update", "assignment.create"]


def test_in_process_clients_see_a_drop_as_an_httpx_transport_error() -> None:
    sandbox = Sandbox(seed=7, scale="tiny")
    token = sandbox.token_for(sandbox.district_ids()[0])
    transport = httpx.WSGITransport(app=sandbox.app)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(transport=transport, base_url="http://sandbox", headers=headers) as client:
        sandbox.inject("/v3.1/users", drop=True)
        try:
            client.get("/v3.1/users")
            raise AssertionError("the reply should have been dropped")
        except httpx.TransportError:
            pass
        assert client.get("/v3.1/users").status_code == 200


def test_a_storm_is_a_count_of_requests_whatever_the_clock_does() -> None:
    """Hostile storms answer 429 to `storm_requests` requests of that token in a row, then stop.

    The clock is frozen for one engine and races ahead for the other: both see the same storms, so a
    faster server (keep-alive) cannot put more of a run's requests inside storms.
    """
    from lmsdata.sandbox.faults import Faults

    frozen = Faults("hostile", 7, lambda: 1_800_000_000.0, slow_s=0.0, storm_requests=3)
    ticks = iter(range(10**6))
    racing = Faults("hostile", 7, lambda: 1_800_000_000.0 + 60 * next(ticks), slow_s=0.0, storm_requests=3)
    kinds = [[(f.kind if f else None) for _, f in (engine.draw("token-a") for _ in range(600))]
             for engine in (frozen, racing)]
    assert kinds[0] == kinds[1]
    runs, n = [], 0
    for kind in kinds[0] + [None]:
        if kind == "storm":
            n += 1
        elif n:
            runs.append(n)
            n = 0
    assert runs and all(r % 3 == 0 for r in runs), runs  # whole storms of three (back to back only if drawn so)
    assert sum(runs) < 600 * 0.15  # 1.5 % of draws start a storm of 3
