"""The sandbox keeps Clever's contract where it used to stray: nulls refused in PATCH, `role=contact`,
`owner_type` in a request body."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from sandbox_fixtures import CLIENT_ID, CLIENT_SECRET, FakeClock, client_for, ready_setup, served

from lmsdata.sandbox import Sandbox
from lmsdata.sandbox.timefmt import iso

World = tuple[Sandbox, str, FakeClock]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    clock = FakeClock()
    with served(scale="tiny", clock=clock) as (sandbox, url):
        yield sandbox, url, clock


def _assignments(world: World) -> tuple[dict[str, str], str]:
    ids = ready_setup(world[0], "canvas")
    return ids, f"/v3.1/sections/{ids['section']}/assignments"


def _created(client: httpx.Client, base: str, clock: FakeClock) -> dict:
    body = {"title": "Quiz", "description": "<p>d</p>", "due_date": iso(clock() + 86400 * 7)}
    return client.post(base, json=body).json()["data"]


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ({"title": None}, 'title in body must be of type string: "null"'),
        ({"description": None}, 'description in body must be of type string: "null"'),
        ({"state": None}, 'state in body must be of type string: "null"'),
        ({"attachments": [{"type": None, "url": "https://x.example"}]},
         'attachments.0.type in body must be of type string: "null"'),
        ({"due_date": ""}, 'due_date in body must be of type date-time: ""'),
        ({"display_date": ""}, 'display_date in body must be of type date-time: ""'),
    ],
)
def test_an_assignment_patch_refuses_what_the_response_schema_cannot_hold(world: World, body: dict, line: str) -> None:
    sandbox, url, clock = world
    ids, base = _assignments(world)
    with client_for(sandbox, url, ids["district"]) as client:
        created = _created(client, base, clock)
        refused = client.patch(f"{base}/{created['id']}", json=body)
        assert refused.status_code == 400
        assert line in refused.json()["message"]
        again = client.get(f"{base}/{created['id']}").json()["data"]
    assert (again["title"], again["description"], again["state"]) == (created["title"], created["description"],
                                                                       created["state"])  # fmt: skip
    assert again["due_date"] == created["due_date"]


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ({"state": None}, 'state in body must be of type string: "null"'),
        ({"override_due_date": ""}, 'override_due_date in body must be of type date-time: ""'),
        ({"attachments": [{"type": None}]}, 'attachments.0.type in body must be of type string: "null"'),
    ],
)
def test_a_submission_patch_refuses_nulls_and_empty_dates(world: World, body: dict, line: str) -> None:
    sandbox, url, clock = world
    ids, base = _assignments(world)
    with client_for(sandbox, url, ids["district"]) as client:
        created = _created(client, base, clock)
        refused = client.patch(f"{base}/{created['id']}/submissions/{ids['student']}", json=body)
    assert refused.status_code == 400 and line in refused.json()["message"]


def test_users_with_role_contact_are_none_when_the_district_has_no_contact(world: World) -> None:
    sandbox, url, _ = world
    district = sandbox.district_ids()[0]
    with client_for(sandbox, url, district) as client:
        contacts = client.get("/v3.1/users", params={"role": "contact"})
        students = client.get("/v3.1/users", params={"role": "student", "limit": 1})
    assert contacts.status_code == 200 and contacts.json()["data"] == []
    assert students.json()["data"][0]["data"]["roles"].keys() == {"student"}


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"params": {"owner_type": "district"}},
        {"content": b"owner_type=district", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"json": {"owner_type": "district"}},
    ],
    ids=["query", "form", "json"],
)
def test_owner_type_is_accepted_in_the_query_a_form_or_a_json_body(world: World, request_kwargs: dict) -> None:
    sandbox, url, _ = world
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", **request_kwargs.pop("headers", {})}
    response = httpx.request("GET", f"{url}/oauth/tokens", headers=headers, timeout=10, **request_kwargs)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == len([d for d in sandbox.district_ids()
                                                if sandbox.token_for(d)])  # fmt: skip


@pytest.mark.parametrize("path", ["/v3.1/courses", "/v3.1/resources"])
def test_courses_and_resources_are_lists_of_the_districts_own(world: World, path: str) -> None:
    sandbox, url, _ = world
    did = sandbox.district_ids()[0]
    with client_for(sandbox, url, did) as client:
        listed = client.get(path, params={"limit": 2})
        too_many = client.get(path, params={"limit": 20000})
    served = {"/v3.1/courses": sandbox.courses, "/v3.1/resources": sandbox.resources}[path](did)
    assert listed.status_code == 200 and [item["data"] for item in listed.json()["data"]] == served[:2]
    assert {obj["district"] for obj in served} == {did}
    assert too_many.status_code == 413  # the same limit check as every Data API list
