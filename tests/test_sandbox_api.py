"""The sandbox's Data API over loopback HTTP: paging, auth, limits, events and the control plane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_fixtures import CLIENT_ID, CLIENT_SECRET, FakeClock, client_for, first_link, served

from lmsdata.sandbox import Sandbox
from lmsdata.sandbox.data import section_grade


@pytest.fixture
def demo() -> Iterator[tuple[Sandbox, str]]:
    with served(scale="demo") as pair:
        yield pair


def _ids(payload: dict[str, Any]) -> list[str]:
    return [item["data"]["id"] for item in payload["data"]]


def test_paging_walks_every_user_once_in_ascending_order(demo: tuple[Sandbox, str]) -> None:
    sandbox, url = demo
    did = sandbox.district_ids()[0]
    expected = [u["id"] for u in sandbox.users(did)]
    seen: list[str] = []
    with client_for(sandbox, url, did) as client:
        uri: str | None = "/v3.1/users?limit=37"
        pages = 0
        while uri:
            payload = client.get(uri).json()
            seen += _ids(payload)
            uri = first_link(payload, "next")
            pages += 1
    assert seen == expected == sorted(expected)
    assert pages == -(-len(expected) // 37)


def test_paging_edge_cases(demo: tuple[Sandbox, str]) -> None:
    sandbox, url = demo
    did = sandbox.district_ids()[1]
    ids = [u["id"] for u in sandbox.users(did)]
    with client_for(sandbox, url, did) as client:
        first = client.get("/v3.1/users", params={"limit": 5}).json()
        assert _ids(first) == ids[:5]
        assert [link["rel"] for link in first["links"]] == ["self", "next"]
        assert first["links"][0]["uri"] == "/v3.1/users?limit=5"
        assert first_link(first, "next") == f"/v3.1/users?limit=5&starting_after={ids[4]}"
        # each list item is wrapped and carries its uri
        assert first["data"][0]["uri"] == f"/v3.1/users/{ids[0]}"

        after = client.get("/v3.1/users", params={"limit": 5, "starting_after": ids[4]}).json()
        assert _ids(after) == ids[5:10]
        assert first_link(after, "prev") == f"/v3.1/users?limit=5&ending_before={ids[5]}"
        back = client.get(first_link(after, "prev")).json()
        assert _ids(back) == ids[:5]
        assert first_link(back, "prev") is None
        assert first_link(back, "next") == f"/v3.1/users?limit=5&starting_after={ids[4]}"

        before = client.get("/v3.1/users", params={"limit": 3, "ending_before": ids[10]}).json()
        assert _ids(before) == ids[7:10]
        assert first_link(before, "prev") == f"/v3.1/users?limit=3&ending_before={ids[7]}"

        last = client.get("/v3.1/users", params={"limit": 2, "ending_before": "last"}).json()
        assert _ids(last) == ids[-2:]

        end = client.get("/v3.1/users", params={"starting_after": ids[-1]}).json()
        assert end["data"] == [] and [link["rel"] for link in end["links"]] == ["self"]
        start = client.get("/v3.1/users", params={"ending_before": ids[0]}).json()
        assert start["data"] == []

        # the last full page has no next link; role filters keep their parameter in links
        tail = client.get("/v3.1/users", params={"limit": 4, "starting_after": ids[-5]}).json()
        assert _ids(tail) == ids[-4:] and first_link(tail, "next") is None
        students = client.get("/v3.1/users", params={"role": "student", "limit": 2}).json()
        assert "role=student" in first_link(students, "next")
        assert all("student" in item["data"]["roles"] for item in students["data"])

        assert len(client.get("/v3.1/users", params={"limit": 10000}).json()["data"]) == len(ids)
        assert len(client.get("/v3.1/users").json()["data"]) == min(100, len(ids))
        too_big = client.get("/v3.1/users", params={"limit": 10001})
        assert too_big.status_code == 413
        assert client.get("/v3.1/users", params={"limit": "many"}).status_code == 400
        assert client.get("/v3.1/users", params={"role": "principal"}).status_code == 400


def test_districts_only_show_the_tokens_district(demo: tuple[Sandbox, str]) -> None:
    sandbox, url = demo
    first, second = sandbox.district_ids()[:2]
    with client_for(sandbox, url, first) as client:
        payload = client.get("/v3.1/districts").json()
        assert _ids(payload) == [first]
        assert client.get(f"/v3.1/districts/{second}").status_code == 404
        other_user = sandbox.users(second)[0]["id"]
        assert client.get(f"/v3.1/users/{other_user}").status_code == 404
        single = client.get(f"/v3.1/districts/{first}").json()
        assert single["data"] == sandbox.district(first)
        assert single["links"] == [{"rel": "self", "uri": f"/v3.1/districts/{first}"}]


def test_section_users_lists_members_by_role(demo: tuple[Sandbox, str]) -> None:
    sandbox, url = demo
    did = sandbox.district_ids()[0]
    section = sandbox.sections(did)[3]
    with client_for(sandbox, url, did) as client:
        everyone = _ids(client.get(f"/v3.1/sections/{section['id']}/users").json())
        students = _ids(client.get(f"/v3.1/sections/{section['id']}/users", params={"role": "student"}).json())
        teachers = _ids(client.get(f"/v3.1/sections/{section['id']}/users", params={"role": "teacher"}).json())
    assert students == sorted(section["students"])
    assert teachers == section["teachers"]
    assert everyone == sorted(section["students"] + section["teachers"])


def test_auth_errors_and_unknown_routes(demo: tuple[Sandbox, str]) -> None:
    sandbox, url = demo
    assert httpx.get(f"{url}/v3.1/districts").json() == {"message": "No authorization provided"}
    assert httpx.get(f"{url}/v3.1/districts").status_code == 401
    for header in ("Bearer wrong", "Basic abc", "Token x"):
        response = httpx.get(f"{url}/v3.1/districts", headers={"Authorization": header})
        assert (response.status_code, response.json()) == (403, {"message": "Could not authorize token"})
    with client_for(sandbox, url, sandbox.district_ids()[0]) as client:
        assert client.get("/v3.1/nothing-here").status_code == 404
        not_allowed = client.post("/v3.1/users", json={})
        assert not_allowed.status_code == 405 and not_allowed.headers["Allow"] == "GET"
        section_id = sandbox.sections(sandbox.district_ids()[0])[0]["id"]
        assert client.get(f"/v3.1/sections/{section_id}/assignments").status_code == 405
        assert client.put("/v3.1/districts").status_code == 405


def test_oauth_tokens_auth_filter_and_revocation(demo: tuple[Sandbox, str]) -> None:
    sandbox, url = demo
    tokens_url = f"{url}/oauth/tokens"
    assert httpx.get(tokens_url, params={"owner_type": "district"}).status_code == 401
    assert httpx.get(tokens_url, params={"owner_type": "district"}, auth=(CLIENT_ID, "wrong")).status_code == 401
    assert httpx.get(tokens_url, auth=(CLIENT_ID, CLIENT_SECRET)).status_code == 400
    every = httpx.get(tokens_url, params={"owner_type": "district"}, auth=(CLIENT_ID, CLIENT_SECRET)).json()["data"]
    assert len(every) == 12
    did = sandbox.district_ids()[4]
    one = httpx.get(tokens_url, params={"owner_type": "district", "district": did}, auth=(CLIENT_ID, CLIENT_SECRET))
    assert [t["owner"]["id"] for t in one.json()["data"]] == [did]

    sandbox.revoke_token(did)
    listed = httpx.get(tokens_url, params={"owner_type": "district"}, auth=(CLIENT_ID, CLIENT_SECRET)).json()["data"]
    assert did not in [t["owner"]["id"] for t in listed]
    with client_for(sandbox, url, did) as client:
        assert client.get("/v3.1/districts").status_code == 403
        sandbox.restore_token(did)
        assert client.get("/v3.1/districts").status_code == 200


def test_rate_limit_headers_window_and_429() -> None:
    clock = FakeClock()
    with served(rate_limit=3, clock=clock) as (sandbox, url):
        first, second = sandbox.district_ids()[:2]
        with client_for(sandbox, url, first) as client:
            seen = [client.get("/v3.1/districts") for _ in range(4)]
            assert [r.status_code for r in seen] == [200, 200, 200, 429]
            assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
            reset = int(clock() // 60 * 60 + 60)
            for response in seen:
                assert response.headers["X-RateLimit-Limit"] == "3"
                assert response.headers["X-RateLimit-Reset"] == str(reset)
                assert response.headers["X-RateLimit-Bucket"] == seen[0].headers["X-RateLimit-Bucket"]
            assert seen[-1].content == b""
            assert sandbox.token_for(first) not in seen[0].headers["X-RateLimit-Bucket"]
            with client_for(sandbox, url, second) as other:  # per token
                assert other.get("/v3.1/districts").status_code == 200
            clock.advance(reset - clock())  # the window resets on the minute
            fresh = client.get("/v3.1/districts")
            assert fresh.status_code == 200 and fresh.headers["X-RateLimit-Remaining"] == "2"
            # errors carry the headers too
            assert client.get("/v3.1/nowhere").headers["X-RateLimit-Remaining"] == "1"
        assert sandbox.stats()["rate_limited"] == 1


def test_events_follow_control_plane_changes_over_http(demo: tuple[Sandbox, str]) -> None:
    sandbox, url = demo
    did = sandbox.district_ids()[0]
    section = sandbox.sections(did)[0]
    with client_for(sandbox, url, did) as client:
        newest = client.get("/v3.1/events", params={"ending_before": "last", "limit": 1}).json()["data"]
        cursor = newest[-1]["data"]["id"]
        student = next(u for u in sandbox.users(did, role="student") if u["lms_status"]["synced_in_lms"])
        control = httpx.Client(base_url=f"{url}/__sandbox")
        assert control.post(f"/districts/{did}/lms_state", json={"lms_state": "error"}).status_code == 200
        assert control.post(f"/users/{student['id']}/matched", json={"matched": False}).status_code == 200
        assert control.post(f"/sections/{section['id']}/synced", json={"synced": False}).status_code == 200
        added = control.post(f"/districts/{did}/users", json={"role": "student", "section_ids": [section["id"]]})
        new_user = added.json()["result"]
        assert control.delete(f"/users/{new_user['id']}").status_code == 200
        assert control.post("/users/000000000000000000000000/matched", json={"matched": True}).status_code == 404
        assert control.post(f"/districts/{did}/lms_state", content=b"[1]").status_code == 400
        assert control.get(f"/districts/{did}/lms_state").status_code == 405

        events = client.get("/v3.1/events", params={"starting_after": cursor}).json()["data"]
        kinds = [(e["data"]["type"], e["data"]["data"]["object"]["id"]) for e in events]
        assert kinds[0] == ("districts.updated", did)
        assert events[0]["data"]["data"]["previous_attributes"] == {"lms_state": "success"}
        assert ("users.updated", student["id"]) in kinds
        updated = next(e for e in events if e["data"]["type"] == "users.updated")
        assert updated["data"]["data"]["previous_attributes"] == {"lms_status": {"synced_in_lms": True}}
        assert updated["data"]["data"]["object"]["lms_status"] == {"synced_in_lms": False}
        assert ("sections.updated", section["id"]) in kinds
        assert ("users.created", new_user["id"]) in kinds and ("users.deleted", new_user["id"]) in kinds
        # matching changes move the district's percentages, announced as districts.updated
        pct = [e for e in events if e["data"]["type"] == "districts.updated"
               and "lms_matched_percentage" in e["data"]["data"]["previous_attributes"]]
        assert pct and pct[-1]["data"]["data"]["object"] == client.get(f"/v3.1/districts/{did}").json()["data"]
        ids = [e["data"]["id"] for e in events]
        assert ids == sorted(ids) and ids[0] > cursor
        assert client.get("/v3.1/events", params={"record_type": "sections", "starting_after": cursor}).json()["data"]
        only_users = client.get("/v3.1/events", params={"record_type": "users", "starting_after": cursor}).json()
        assert {e["data"]["type"].split(".")[0] for e in only_users["data"]} == {"users"}
        at_school = client.get("/v3.1/events", params={"school": section["school"], "starting_after": cursor})
        assert ("sections.updated", section["id"]) in [
            (e["data"]["type"], e["data"]["data"]["object"]["id"]) for e in at_school.json()["data"]]
        assert all(e["data"]["type"] != "districts.updated" for e in at_school.json()["data"])
        elsewhere = client.get("/v3.1/events", params={"school": "5" * 24, "starting_after": cursor})
        assert elsewhere.json()["data"] == []
        # the new user is gone from the roster and from the section again
        assert new_user["id"] not in [u["id"] for u in sandbox.users(did)]
        assert new_user["id"] not in sandbox.section(section["id"])["students"]
        stats = control.get("/stats").json()["result"]
        control.close()  # keep-alive: an unclosed client would leave its connection open
        assert stats["requests_by_district"][did] >= 4


def test_matching_changes_the_district_percentages() -> None:
    with served(scale="tiny") as (sandbox, _):
        did = sandbox.district_ids()[0]
        before = sandbox.district(did)["lms_matched_percentage"]
        students = sandbox.users(did, role="student")
        for student in students:
            sandbox.set_user_matched(student["id"], True)
        for section in sandbox.sections(did):
            sandbox.set_section_synced(section["id"], True)
        after = sandbox.district(did)["lms_matched_percentage"]
        assert before["students"] < 100 and after["students"] == 100.0 and after["sections"] == 100.0
        sandbox.set_user_matched(students[0]["id"], False)
        expected = round(100 * (len(students) - 1) / len(students), 1)
        assert sandbox.district(did)["lms_matched_percentage"]["students"] == expected


def test_events_past_retention_are_refused_so_clients_resync() -> None:
    clock = FakeClock()
    with served(clock=clock) as (sandbox, url):
        did = sandbox.district_ids()[0]
        with client_for(sandbox, url, did) as client:
            cursor = client.get("/v3.1/events").json()["data"][-1]["data"]["id"]
            assert client.get("/v3.1/events", params={"starting_after": cursor}).status_code == 200
            clock.advance(31 * 86400)
            assert client.get("/v3.1/events", params={"starting_after": cursor}).status_code == 404
            assert client.get("/v3.1/events").json()["data"] == []


def test_lms_state_control_sets_freshness_and_type() -> None:
    with served(scale="demo") as (sandbox, _):
        unconnected = next(d for d in sandbox.district_ids() if sandbox.district(d)["lms_state"] == "")
        assert sandbox.district(unconnected)["lms_matched_percentage"] is None
        sandbox.set_lms_state(unconnected, "pending_authorization", lms_type="canvas")
        pending = sandbox.district(unconnected)
        assert pending["lms_state"] == "pending_authorization"
        assert (pending["lms_type"], pending["last_lms_sync"]) == ("canvas", None)
        sandbox.set_lms_state(unconnected, "success")
        assert sandbox.district(unconnected)["last_lms_sync"] is not None
        sandbox.set_lms_state(unconnected, None)
        assert sandbox.district(unconnected)["lms_matched_percentage"] is None
        with pytest.raises(KeyError):
            sandbox.set_lms_state("000000000000000000000000", "success")


def test_last_lms_sync_control_moves_freshness_with_an_event() -> None:
    with served(scale="tiny") as (sandbox, url):
        did = sandbox.district_ids()[0]
        before = sandbox.district(did)["last_lms_sync"]
        with client_for(sandbox, url, did) as client, httpx.Client(base_url=f"{url}/__sandbox") as control:
            newest = client.get("/v3.1/events", params={"ending_before": "last", "limit": 1}).json()["data"]
            cursor = newest[-1]["data"]["id"]
            moved = control.post(f"/districts/{did}/last_lms_sync", json={"at": "2026-11-28T09:30:00Z"})
            assert moved.status_code == 200
            assert client.get(f"/v3.1/districts/{did}").json()["data"]["last_lms_sync"] == "2026-11-28T09:30:00.000Z"
            [event] = client.get("/v3.1/events", params={"starting_after": cursor}).json()["data"]
            assert event["data"]["type"] == "districts.updated"
            assert event["data"]["data"]["previous_attributes"] == {"last_lms_sync": before}
            assert control.post(f"/districts/{did}/last_lms_sync", json={"at": "yesterday"}).status_code == 400
            assert control.post(f"/districts/{did}/last_lms_sync", json={"at": 5}).status_code == 400
            assert control.post(f"/districts/{did}/last_lms_sync", json={}).status_code == 400
            assert control.post("/districts/000000000000000000000000/last_lms_sync",
                                json={"at": None}).status_code == 404
            assert control.post(f"/districts/{did}/last_lms_sync", json={"at": None}).status_code == 200
        assert sandbox.district(did)["last_lms_sync"] is None


def test_section_grades_fit_their_courses_and_schools() -> None:
    elementary = {"low_grade": "Kindergarten", "high_grade": "5"}
    high = {"low_grade": "9", "high_grade": "12"}
    assert section_grade("English 9", "s1", high) == "9"
    assert section_grade("Math 7", "s1", elementary) in {"Kindergarten", "1", "2", "3", "4", "5"}
    grades = {section_grade("Biology", f"s{n}", high) for n in range(40)}
    assert grades == {"9", "10", "11", "12"}  # not all one grade
