"""Client edge cases that a real sandbox cannot produce on demand (httpx.MockTransport)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from lmsdata.client import CleverClient, ClientOptions, DistrictClient
from lmsdata.errors import (
    BadRequest,
    BadResponse,
    CleverError,
    NotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
    TokenRevoked,
)

TOKEN = "tok-district-one-0123456789abcdef"
SECRET = "app-secret-xyz-987654"


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, fake: FakeTime | None = None, **options: Any) -> tuple[CleverClient, FakeTime]:
    fake = fake or FakeTime()

    def routed(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/tokens":
            expected = "Basic " + base64.b64encode(f"app:{SECRET}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return httpx.Response(401, json={"message": "Invalid client credentials"})
            return httpx.Response(
                200,
                json={
                    "data": [
                        {"id": "t1", "owner": {"type": "district", "id": "d1"}, "access_token": TOKEN},
                        {"id": "t2", "owner": {"type": "school", "id": "s9"}, "access_token": "other-token-123456"},
                    ],
                    "links": [{"rel": "self", "uri": "/oauth/tokens?owner_type=district"}],
                },
            )
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return handler(request)

    client = CleverClient(
        "app",
        SECRET,
        api_url="https://api.example",
        oauth_url="https://oauth.example",
        transport=httpx.MockTransport(routed),
        sleep=fake.sleep,
        clock=fake.clock,
        options=ClientOptions(**options),
    )
    return client, fake


def district(handler: Handler, **options: Any) -> tuple[DistrictClient, FakeTime]:
    client, fake = make_client(handler, **options)
    return client.district("d1"), fake


def wrapped(items: list[dict[str, Any]], next_uri: str | None = None) -> dict[str, Any]:
    links = [{"rel": "self", "uri": "/v3.1/users"}]
    if next_uri:
        links.append({"rel": "next", "uri": next_uri})
    return {"data": [{"data": item, "uri": f"/v3.1/users/{item['id']}"} for item in items], "links": links}


def test_token_listing_keeps_only_district_tokens_and_hides_them() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={}))
    tokens = client.district_tokens()
    assert [t.district_id for t in tokens] == ["d1"]
    assert TOKEN not in repr(tokens)
    assert TOKEN not in repr(client.district("d1"))


def test_concurrent_first_callers_share_one_token_listing() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={}))
    listings = []
    list_tokens = client._list_tokens

    def slow_listing() -> Any:
        listings.append(1)
        time.sleep(0.05)  # long enough that every thread arrives while the first listing is on the wire
        return list_tokens()

    client._list_tokens = slow_listing  # type: ignore[method-assign]
    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = list(pool.map(lambda _: client.district("d1"), range(8)))
    assert len(listings) == 1
    assert client.token_requests == 1
    assert all(dc is clients[0] for dc in clients)


def test_wrong_app_credentials_name_the_settings_to_fix() -> None:
    client = CleverClient(
        "app", "wrong-secret-000000", api_url="https://a.example", oauth_url="https://o.example",
        transport=httpx.MockTransport(lambda r: httpx.Response(401, json={"message": "Invalid client credentials"})),
    )  # fmt: skip
    with pytest.raises(TokenRevoked) as info:
        client.district_tokens()
    assert "CLEVER_CLIENT_SECRET" in str(info.value)
    assert "wrong-secret-000000" not in str(info.value)


def test_unknown_district_is_a_clear_error() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={}))
    with pytest.raises(TokenRevoked, match="no token for this district"):
        client.district("nope")


def test_paging_follows_next_links_unwraps_items_and_asks_for_the_largest_pages() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if "starting_after" not in request.url.params:
            page = wrapped([{"id": "a"}, {"id": "b"}], "/v3.1/users?limit=10000&starting_after=b")
            return httpx.Response(200, json=page)
        return httpx.Response(200, json=wrapped([{"id": "c"}]))

    dc, _ = district(handler)
    assert [u["id"] for u in dc.iter_users(role="student")] == ["a", "b", "c"]
    assert seen[0].params["limit"] == "10000" and seen[0].params["role"] == "student"
    assert seen[1].params["starting_after"] == "b"
    assert dc.requests_made == 2


def test_submissions_use_pages_of_100_and_bare_items() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if "cursor" not in request.url.params:
            return httpx.Response(200, json={"data": [{"user_id": "u1"}], "links": [
                {"rel": "next", "uri": "/v3.1/sections/s/assignments/a/submissions?cursor=xyz&limit=100"}]})
        return httpx.Response(200, json={"data": [{"user_id": "u2"}]})

    dc, _ = district(handler)
    assert [s["user_id"] for s in dc.iter_submissions("s", "a")] == ["u1", "u2"]
    assert seen[0].params["limit"] == "100"


def test_an_expired_submissions_cursor_restarts_the_listing_once_without_repeats() -> None:
    calls: list[str | None] = []

    def page(user_ids: list[str], next_cursor: str | None = None) -> httpx.Response:
        uri = f"/v3.1/sections/s/assignments/a/submissions?cursor={next_cursor}"
        return httpx.Response(200, json={"data": [{"user_id": u} for u in user_ids],
                                         "links": [{"rel": "next", "uri": uri}] if next_cursor else []})

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        calls.append(cursor)
        if cursor is None:  # the first page; the first listing's link has expired by the time it is used
            return page(["u1", "u2"], "fresh" if calls.count(None) == 2 else "stale")
        if cursor == "stale":
            return httpx.Response(400, json={"message": "cursor expired"})
        return page(["u3"])

    dc, _ = district(handler)
    assert [s["user_id"] for s in dc.iter_submissions("s", "a")] == ["u1", "u2", "u3"]
    assert calls == [None, "stale", None, "fresh"]


def test_429_waits_for_the_reset_then_succeeds() -> None:
    fake = FakeTime()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(fake.now)
        if len(calls) == 1:
            return httpx.Response(429, headers={"X-RateLimit-Reset": str(int(fake.now) + 42),
                                                "X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "1200"})
        return httpx.Response(200, json={"data": {"id": "d1", "name": "One"}})

    client, _ = make_client(handler, fake)
    assert client.district("d1").get_district()["name"] == "One"
    assert calls[1] - calls[0] >= 42


def test_endless_429_gives_up_with_rate_limited() -> None:
    dc, _ = district(lambda r: httpx.Response(429), max_rate_limit_waits=3)
    with pytest.raises(RateLimited):
        dc.get_district()
    assert dc.requests_made == 4


def test_pacer_waits_for_the_window_instead_of_drawing_a_429() -> None:
    fake = FakeTime()
    state = {"used": 0, "window": int(fake.now) + 60}

    def handler(request: httpx.Request) -> httpx.Response:
        if fake.now >= state["window"]:
            state["used"], state["window"] = 0, state["window"] + 60
        state["used"] += 1
        headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": str(max(0, 10 - state["used"])),
                   "X-RateLimit-Reset": str(state["window"])}
        if state["used"] > 10:
            return httpx.Response(429, headers=headers)
        return httpx.Response(200, json={"data": {"id": "d1", "name": "x"}}, headers=headers)

    client, _ = make_client(handler, fake)
    dc = client.district("d1")
    for _ in range(25):
        dc.get_district()
    assert dc.requests_made == 25  # no request was refused
    assert fake.now >= 1_000_000 + 60  # it waited for at least one window


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_a_read_is_retried_with_growing_bounded_backoff(status: int) -> None:
    answers = iter([httpx.Response(status, text="<html><title>Bad Gateway</title></html>")] * 3
                   + [httpx.Response(200, json={"data": {"id": "d1", "name": "ok"}})])
    dc, fake = district(lambda r: next(answers))
    assert dc.get_district()["name"] == "ok"
    assert len(fake.sleeps) == 3 and fake.sleeps[0] < fake.sleeps[2] <= 30


def test_5xx_that_persists_raises_server_error_with_clever_words() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head></html>"
    dc, _ = district(lambda r: httpx.Response(502, text=page), max_attempts=3)
    with pytest.raises(ServerError) as info:
        dc.get_district()
    assert info.value.status == 502 and info.value.message == "502 Bad Gateway"
    assert dc.requests_made == 3


def test_dropped_connections_and_timeouts_on_reads_are_retried() -> None:
    failures = iter([httpx.RemoteProtocolError("Server disconnected"), httpx.ReadTimeout("slow")])

    def handler(request: httpx.Request) -> httpx.Response:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return httpx.Response(200, json={"data": {"id": "d1", "name": "ok"}})

    dc, _ = district(handler)
    assert dc.get_district()["name"] == "ok"
    assert dc.requests_made == 3


@pytest.mark.parametrize("body", ['{"data": [{"data": {"id": "a"}', "<html>oops</html>", "\x00\x01"])
def test_malformed_bodies_on_reads_are_retried_then_reported(body: str) -> None:
    dc, _ = district(lambda r: httpx.Response(200, text=body), max_attempts=2)
    with pytest.raises(BadResponse, match="unreadable JSON"):
        list(dc.iter_users())
    assert dc.requests_made == 2


def test_a_write_is_never_retried_after_a_timeout_and_says_the_outcome_is_unknown() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow")

    dc, _ = district(handler)
    with pytest.raises(RequestTimeout) as info:
        dc.create_assignment("s1", {"title": "Quiz"})
    assert info.value.outcome_unknown and len(calls) == 1
    assert "may or may not" in str(info.value)


def test_a_write_is_not_retried_on_5xx_but_is_after_429() -> None:
    answers = iter([httpx.Response(429, headers={"X-RateLimit-Reset": "0"}), httpx.Response(503, text="")])
    dc, _ = district(lambda r: next(answers))
    with pytest.raises(ServerError) as info:
        dc.update_submission("s", "a", "u", {"grade_points": 9})
    assert dc.requests_made == 2 and not info.value.outcome_unknown


def test_write_timeouts_use_the_longer_write_timeout() -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.method] = request.extensions["timeout"]["read"]
        return httpx.Response(200, json={"data": {"id": "x"}})

    dc, _ = district(handler)
    dc.get_assignment("s", "a")
    dc.update_assignment("s", "a", {"title": "t"})
    assert seen == {"GET": 30.0, "PATCH": 60.0}


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (404, {"message": "Assignment does not exist"}, NotFound, "Assignment does not exist"),
        (400, {"message": "due_date must be in the future"}, BadRequest, "due_date must be in the future"),
        (403, {"message": "Could not authorize token"}, TokenRevoked, "Could not authorize token"),
        (404, {"code": 91, "error": "Resource not found"}, NotFound, "Resource not found"),
        (401, None, TokenRevoked, ""),
        (400, "Invalid character ' ' in string escape code", BadRequest, "Invalid character ' ' in string escape code"),
    ],
)
def test_errors_are_typed_and_keep_clevers_message(status: int, body: Any, kind: type, message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status)
        return httpx.Response(status, **({"json": body} if isinstance(body, dict) else {"text": body}))

    dc, _ = district(handler)
    with pytest.raises(kind) as info:
        dc.get_assignment("s", "a")
    error = info.value
    assert isinstance(error, CleverError) and error.status == status and error.message == message
    assert error.method == "GET" and error.path == "/v3.1/sections/s/assignments/a"


def test_no_token_or_secret_appears_in_errors_even_when_echoed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": f"bad header {request.headers['authorization']} for {SECRET}"})

    dc, _ = district(handler)
    with pytest.raises(BadRequest) as info:
        dc.get_district()
    text = str(info.value) + info.value.message + repr(info.value)
    assert TOKEN not in text and SECRET not in text and "[redacted]" in text


def test_events_take_previous_attributes_from_inside_or_next_to_data() -> None:
    items = [
        {"data": {"id": "e1", "type": "users.updated", "created": "2026-01-01T00:00:00.000Z",
                  "data": {"object": {"id": "u1"}, "previous_attributes": {"email": "old@x"}}}},
        {"data": {"id": "e2", "type": "sections.updated", "previous_attributes": {"name": "Old"},
                  "data": {"object": {"id": "s1"}}}},
        {"data": {"id": "e3", "type": "users.deleted", "data": {"object": {"id": "u2"}}}},
        {"data": {"no": "id"}},
    ]
    dc, _ = district(lambda r: httpx.Response(200, json={"data": items, "links": []}))
    events = list(dc.iter_events(starting_after="e0"))
    assert [(e.id, e.record_type, e.action, e.previous_attributes) for e in events] == [
        ("e1", "users", "updated", {"email": "old@x"}),
        ("e2", "sections", "updated", {"name": "Old"}),
        ("e3", "users", "deleted", None),
    ]


def test_latest_event_id_uses_one_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["ending_before"] == "last" and request.url.params["limit"] == "1"
        return httpx.Response(200, json={"data": [{"data": {"id": "e9", "type": "users.created"}}]})

    dc, _ = district(handler)
    assert dc.latest_event_id() == "e9" and dc.requests_made == 1


def test_listing_json_shape_errors_are_bad_responses() -> None:
    dc, _ = district(lambda r: httpx.Response(200, text=json.dumps({"data": {"not": "a list"}})), max_attempts=1)
    with pytest.raises(BadResponse):
        list(dc.iter_sections())
