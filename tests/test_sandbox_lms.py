"""LMS Connect in the sandbox over loopback HTTP: every documented message verbatim, per-LMS rules,
the readiness/matching failures grade passback meets, and submissions paging with its 2-hour link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_fixtures import FakeClock, client_for, first_link, ready_setup, served

from lmsdata.sandbox import Sandbox
from lmsdata.sandbox.timefmt import iso

World = tuple[Sandbox, str, FakeClock]
VALID = {"title": "Fractions Quiz 3", "description": "<p>Complete all questions</p>"}


@pytest.fixture
def world() -> Iterator[tuple[Sandbox, str, FakeClock]]:
    clock = FakeClock()
    with served(scale="tiny", clock=clock) as (sandbox, url):
        yield sandbox, url, clock


def _future(clock: FakeClock, days: float = 7) -> str:
    return iso(clock() + days * 86400)


def _submissions(ids: dict[str, str], assignment_id: str, user_id: str = "") -> str:
    path = f"/v3.1/sections/{ids['section']}/assignments/{assignment_id}/submissions"
    return f"{path}/{user_id}" if user_id else path


def _create(client: httpx.Client, section: str, clock: FakeClock, **extra: Any) -> dict[str, Any]:
    response = client.post(f"/v3.1/sections/{section}/assignments",
                           json={**VALID, "due_date": _future(clock), **extra})
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "request body is required, but was empty"),
    (b'{"assignee_mode": ,}', "invalid character ',' looking for beginning of value"),
    (b'{"title": "a" : "b"}', "invalid character ':' after object key:value pair"),
    (b'{"title": "a\\ b"}', "invalid character ' ' in string escape code"),
    (b'{"description": "d"}', "missing required field(s): title, due_date"),
    (b'{"title": "t",}', "invalid character '}' looking for beginning of object key string"),
    (b"[" * 5000, "exceeded max depth"),
    (b'{}', "missing required field(s): title, description, due_date"),
    (b'{"title": "t", "description": "d", "due_date": "2030-01-01T00:00:00Z", "submission_types": ["link", "video"]}',
     "validation failure list:\nsubmission_types.1 in body should be one of [link file text discussion]"),
    (b'{"title": "t", "description": "d", "due_date": "2030-01-01T00:00:00Z", "submission_types": ["essay"]}',
     "validation failure list:\nsubmission_types.0 in body should be one of [link file text discussion]"),
    (b'{"title": "t", "description": "d", "due_date": "2001-01-01T00:00:00Z"}', "due_date must be in the future"),
    (b'{"title": "t", "description": "d", "due_date": "2031-02-30T00:00:00Z"}',
     'parsing time "2031-02-30T00:00:00Z": day out of range'),
    (b'{"title": 5, "description": "d", "due_date": "2030-01-01T00:00:00Z", "grading_type": "stars"}',
     'validation failure list:\ntitle in body must be of type string: "number"\n'
     "grading_type in body should be one of [points percent pass_fail letter_grade]"),
])
def test_create_assignment_messages_are_verbatim(world: World, body: bytes, message: str) -> None:
    sandbox, url, _ = world
    ids = ready_setup(sandbox, "canvas")
    with client_for(sandbox, url, ids["district"]) as client:
        response = client.post(f"/v3.1/sections/{ids['section']}/assignments", content=body,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"message": message}
    assert sandbox.stats()["grade_writes"] == []


def test_assignment_lifecycle_and_its_errors(world: World) -> None:
    sandbox, url, clock = world
    ids = ready_setup(sandbox, "canvas")
    base = f"/v3.1/sections/{ids['section']}/assignments"
    with client_for(sandbox, url, ids["district"]) as client:
        created = _create(client, ids["section"], clock, points_possible=20, max_attempts=1)
        assert created["description_plaintext"] == "Complete all questions"
        assert (created["state"], created["grading_type"], created["assignee_mode"]) == ("open", "points", "all")
        assert "submission_types" not in created  # omitted when empty (the Canvas "blank Submitting" case)
        one = f"{base}/{created['id']}"
        assert client.get(one).json() == {"data": created}
        assert client.get(f"{base}/not-a-uuid").json() == {"message": "INVALID_ID"}
        assert client.get(f"{base}/not-a-uuid").status_code == 400
        unknown = client.get(f"{base}/3f1b2c9e-6a57-4d0e-9c1a-2b7e8d0f4a11")
        assert (unknown.status_code, unknown.json()) == (404, {"message": "Assignment does not exist"})

        past = "2020-05-01"
        late = client.patch(one, json={"due_date": past})
        assert (late.status_code, late.json()) == (400, {"message": f'parsing time "{past}": day out of range'})
        assert client.patch(one, content=b"").json() == {"message": "request body is required, but was empty"}
        patched = client.patch(one, json={"title": "Quiz 3 (retake)", "submission_types": ["text"], "state": "locked"})
        assert patched.status_code == 200
        data = patched.json()["data"]
        assert data["title"] == "Quiz 3 (retake)" and data["submission_types"] == ["text"]
        assert data["state"] == "open"  # Canvas ignores state in the body
        assert data["points_possible"] == 20 and data["last_modified"] >= created["last_modified"]

        deleted = client.delete(one)
        assert (deleted.status_code, deleted.content) == (200, b"")
        assert client.get(one).json() == {"message": "Assignment does not exist"}
        assert client.delete(one).status_code == 404
    kinds = [w["kind"] for w in sandbox.stats()["grade_writes"]]
    assert kinds == ["assignment.create", "assignment.update", "assignment.delete"]


def test_state_rules_per_lms(world: World) -> None:
    sandbox, url, clock = world
    canvas = ready_setup(sandbox, "canvas")
    with client_for(sandbox, url, canvas["district"]) as client:
        scheduled = _create(client, canvas["section"], clock, display_date=_future(clock, 2), term_id="x")
        assert scheduled["state"] == "scheduled"
        assert scheduled["start_date"] == scheduled["display_date"] and scheduled["term_id"] is None
    schoology = ready_setup(sandbox, "schoology")
    with client_for(sandbox, url, schoology["district"]) as client:
        draft = _create(client, schoology["section"], clock, state="draft")
        assert draft["state"] == "draft"


def test_teacher_deleting_in_the_lms_makes_later_calls_404(world: World) -> None:
    sandbox, url, clock = world
    ids = ready_setup(sandbox, "canvas")
    with client_for(sandbox, url, ids["district"]) as client:
        created = _create(client, ids["section"], clock)
        sandbox.delete_assignment_in_lms(created["id"])
        response = client.patch(_submissions(ids, created["id"], ids["student"]), json={"grade_points": 3})
    assert (response.status_code, response.json()) == (404, {"message": "Assignment does not exist"})


def test_submission_update_rules(world: World) -> None:
    sandbox, url, clock = world
    ids = ready_setup(sandbox, "canvas")
    with client_for(sandbox, url, ids["district"]) as client:
        aid = _create(client, ids["section"], clock)["id"]
        sub = _submissions(ids, aid)
        phantom = client.get(f"{sub}/{ids['student']}").json()["data"]
        assert (phantom["state"], phantom["grade"], phantom["user_id"]) == ("created", None, ids["student"])
        bad_grader = client.patch(f"{sub}/{ids['student']}", json={"grader_id": ids["student"]})
        assert bad_grader.json() == {
            "message": f"NOT_FOUND: Person with id clever:{ids['student']} not found for this integration."}
        invalid = client.patch(f"{sub}/{ids['student']}", json={"flags": ["late", "absent"], "state": "graded"})
        assert invalid.json() == {"message": "validation failure list:\n"
                                             "state in body should be one of [created submitted returned reclaimed]\n"
                                             "flags.1 in body should be one of [excused late missing]"}
        graded = client.patch(f"{sub}/{ids['student']}", json={
            "grade_points": 18, "grade": "18/20", "grade_comment": "Nice work", "state": "returned",
            "grader_id": ids["teacher"], "flags": ["late", "missing"]}).json()["data"]
        assert graded["grade_points"] == 18 and graded["state"] == "returned"
        assert graded["flags"] == ["missing"]  # Canvas keeps the most important flag only
        assert client.get(f"{sub}/{ids['student']}").json()["data"] == graded
        assert sandbox.submission(ids["section"], aid, ids["student"]) == graded
        outsider = sandbox.add_user(ids["district"], role="student")["id"]  # matched, in no section
        sandbox.set_user_matched(outsider, True)
        for user in (outsider, ids["teacher"]):
            response = client.patch(f"{sub}/{user}", json={"grade_points": 1})
            assert (response.status_code, response.json()) == (404, {"message": "User not found"})
    writes = [w for w in sandbox.stats()["grade_writes"] if w["kind"] == "submission.update"]
    assert [(w["user_id"], w["body"]["grade_points"]) for w in writes] == [(ids["student"], 18)]


def test_unmatched_student_and_unsynced_section_and_district_not_ready(world: World) -> None:
    sandbox, url, clock = world
    ids = ready_setup(sandbox, "canvas")
    with client_for(sandbox, url, ids["district"]) as client:
        sub = _submissions(ids, _create(client, ids["section"], clock)["id"], ids["student"])
        sandbox.set_user_matched(ids["student"], False)
        assert client.patch(sub, json={"grade_points": 5}).json() == {"message": "User not found"}
        sandbox.set_user_matched(ids["student"], True)
        assert client.patch(sub, json={"grade_points": 5}).status_code == 200

        sandbox.set_section_synced(ids["section"], False)
        body = {**VALID, "due_date": _future(clock)}
        response = client.post(f"/v3.1/sections/{ids['section']}/assignments", json=body)
        assert (response.status_code, response.json()) == (404, {"message": "Section not found"})
        sandbox.set_section_synced(ids["section"], True)

        sandbox.set_lms_state(ids["district"], "matching_in_progress")
        response = client.patch(sub, json={"grade_points": 6})
        assert response.status_code == 400
        assert response.json() == {"message": "LMS Connect is not enabled for this district"}
        sandbox.set_lms_state(ids["district"], "success")
        assert client.patch(sub, json={"grade_points": 6}).status_code == 200


def test_schoology_launch_and_link_attachments(world: World) -> None:
    sandbox, url, clock = world
    did = next(d for d in sandbox.district_ids() if sandbox.district(d)["lms_type"] == "schoology")
    student = next(u["id"] for u in sandbox.users(did, role="student")
                   if u["lms_status"]["synced_in_lms"] and not sandbox.has_launched(u["id"]))
    section = next(s["id"] for s in sandbox.sections(did)
                   if student in s["students"] and s["lms_status"]["synced_in_lms"])
    with client_for(sandbox, url, did) as client:
        aid = _create(client, section, clock)["id"]
        sub = f"/v3.1/sections/{section}/assignments/{aid}/submissions/{student}"
        failed = client.patch(sub, json={"grade_points": 7})
        assert (failed.status_code, failed.json()) == (500, {"message": "Error updating submission"})
        link = client.patch(sub, json={"attachments": [{"type": "link", "url": "https://clever.com"}]})
        assert link.json() == {"message": "Schoology does not support submission type of link"}
        httpx.post(f"{url}/__sandbox/users/{student}/launched").raise_for_status()
        assert sandbox.has_launched(student)
        ok = client.patch(sub, json={"grade_points": 7, "attachments": [{"type": "text", "text": "https://clever.com"}]})
        assert ok.status_code == 200 and ok.json()["data"]["attachments"][0]["type"] == "text"


def test_individual_assignees_only(world: World) -> None:
    sandbox, url, clock = world
    ids = ready_setup(sandbox, "canvas")
    others = [u for u in sandbox.section(ids["section"])["students"]
              if u != ids["student"] and sandbox.user(u)["lms_status"]["synced_in_lms"]]
    with client_for(sandbox, url, ids["district"]) as client:
        aid = _create(client, ids["section"], clock, assignee_mode="individuals", assignee_ids=[ids["student"]])["id"]
        sub = f"/v3.1/sections/{ids['section']}/assignments/{aid}/submissions"
        listed = client.get(sub).json()["data"]
        assert [s["user_id"] for s in listed] == [ids["student"]]
        if others:
            assert client.get(f"{sub}/{others[0]}").json() == {"message": "User not found"}


def test_submissions_cursor_paging_and_two_hour_expiry() -> None:
    clock = FakeClock()
    with served(scale="demo", clock=clock) as (sandbox, url):
        ids = ready_setup(sandbox, "google_classroom")
        section = sandbox.section(ids["section"])
        expected = sorted(u for u in section["students"] if sandbox.user(u)["lms_status"]["synced_in_lms"])
        assert len(expected) > 4
        with client_for(sandbox, url, ids["district"]) as client:
            aid = _create(client, ids["section"], clock)["id"]
            base = f"/v3.1/sections/{ids['section']}/assignments/{aid}/submissions"
            seen, uri, pages = [], f"{base}?limit=2", 0
            while uri:
                payload = client.get(uri).json()
                assert all(link["rel"] == "next" for link in payload.get("links", []))
                seen += [s["user_id"] for s in payload["data"]]
                assert all(s["id"] == "" for s in payload["data"])  # Google Classroom: always empty
                uri = first_link(payload, "next")
                pages += 1
                clock.advance(60)
            assert seen == expected and pages == -(-len(expected) // 2)
            assert "links" not in client.get(f"{base}?limit=100").json()

            second = first_link(client.get(f"{base}?limit=2").json(), "next")
            clock.advance(2 * 3600 - 1)
            assert client.get(second).status_code == 200
            clock.advance(2)
            expired = client.get(second)
            assert (expired.status_code, expired.json()) == (400, {"message": "cursor expired"})
            assert client.get(f"{base}?cursor=garbage").json() == {"message": "invalid cursor"}
            for limit, text in (("0", "limit in query should be greater than or equal to 1"),
                                ("101", "limit in query should be less than or equal to 100"),
                                ("x", 'limit in query must be of type integer: "x"')):
                response = client.get(base, params={"limit": limit})
                assert (response.status_code, response.json()) == (400, {"message": text})
