"""The sandbox's HTTP server: HTTP/1.1 keep-alive as Clever serves it, so the client's pool is really reused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_fixtures import CLIENT_ID, CLIENT_SECRET, client_for

from lmsdata.client import CleverClient
from lmsdata.sandbox import Sandbox, Server, serve
from lmsdata.sandbox.server import MIN_THREADS
from lmsdata.sync import sync


@contextmanager
def running(**options: Any) -> Iterator[tuple[Sandbox, Server]]:
    sandbox = Sandbox(seed=7, scale="tiny", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options)
    with serve(sandbox) as server:
        yield sandbox, server


def test_many_requests_share_one_kept_alive_connection() -> None:
    with running() as (sandbox, server), client_for(sandbox, server.url, sandbox.district_ids()[0]) as client:
        replies = [client.get("/v3.1/users", params={"limit": 2}) for _ in range(40)]
        assert {r.status_code for r in replies} == {200}
        assert {r.http_version for r in replies} == {"HTTP/1.1"}
        assert all("close" not in r.headers.get("connection", "") for r in replies)
        assert server.connections_accepted == 1


def test_a_sync_reuses_the_clients_pool(tmp_path: Path) -> None:
    """The real client, OAuth and Data API on one origin: a sequential sync opens one connection."""
    with running() as (sandbox, server):
        with CleverClient(CLIENT_ID, CLIENT_SECRET, api_url=server.url, oauth_url=server.url) as client:
            result = sync(client, tmp_path / "cache.db", full=True, concurrency=1)
        assert result.failed == {}
        requests = sum(sandbox.stats()["requests_by_route"].values())
        assert requests == result.requests > 10
        assert server.connections_accepted == 1


def test_a_dropped_reply_closes_only_that_connection() -> None:
    with running() as (sandbox, server), client_for(sandbox, server.url, sandbox.district_ids()[0]) as client:
        assert client.get("/v3.1/users").status_code == 200
        sandbox.inject("/v3.1/users", drop=True)
        with pytest.raises(httpx.RemoteProtocolError):  # the server hung up without a reply
            client.get("/v3.1/users")
        assert [client.get("/v3.1/schools").status_code for _ in range(5)] == [200] * 5
        assert server.connections_accepted == 2  # the dropped one, then one new kept-alive connection


def test_stalled_replies_never_hold_up_other_clients() -> None:
    """More stalled requests than the pool starts with: the pool grows, the next client is answered."""
    release, stalled = threading.Event(), threading.Semaphore(0)

    def stall(_seconds: float) -> None:
        stalled.release()
        assert release.wait(30), "the test never released the stalled replies"

    stuck = MIN_THREADS + 2
    with running(sleep=stall) as (sandbox, server):
        did = sandbox.district_ids()[0]
        sandbox.inject("/v3.1/terms", delay_s=5, count=stuck)
        clients = [client_for(sandbox, server.url, did) for _ in range(stuck)]
        with ThreadPoolExecutor(max_workers=stuck) as pool:
            pending = [pool.submit(c.get, "/v3.1/terms") for c in clients]
            for _ in range(stuck):
                assert stalled.acquire(timeout=30), "a stalled request never reached the sandbox"
            with client_for(sandbox, server.url, did) as other:
                answered = other.get("/v3.1/schools")
            release.set()
            assert answered.status_code == 200
            assert [f.result().status_code for f in pending] == [200] * stuck
        for c in clients:
            c.close()


def test_a_port_in_use_is_an_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            Server(Sandbox(scale="tiny").app, "127.0.0.1", taken.getsockname()[1])
