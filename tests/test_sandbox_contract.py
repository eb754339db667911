"""Every sandbox route, success and error, validates against Clever's official Swagger definitions.

The spec is read at test time from ../shared/clever-spec/v3.1-client.yml. Objects are checked
strictly (no property the spec does not declare), except the documented additions: the opt-in
district fields `last_lms_sync`/`lms_matched_percentage`, `uri` on list items, `links` on single
objects and `previous_attributes` inside event data (clever-api.md §2.2, §4.1, §6).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_fixtures import CLIENT_ID, CLIENT_SECRET, client_for, ready_setup, served
from spec_support import SPEC_FILE, to_json_schema

from lmsdata.sandbox import Sandbox

pytestmark = pytest.mark.skipif(
    not SPEC_FILE.exists(), reason=f"Clever's spec is not present at {SPEC_FILE} (the shared folder is absent)"
)

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

_EXTRA_PROPERTIES = {
    "District": {"last_lms_sync": {"type": ["string", "null"], "format": "datetime"},
                 "lms_matched_percentage": {
                     "type": ["object", "null"], "additionalProperties": False,
                     "properties": {k: {"type": "number", "minimum": 0, "maximum": 100}
                                    for k in ("students", "teachers", "sections")}}},
}
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
_LINKS = {"type": "array", "items": {"$ref": "#/definitions/Link"}}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_FILE.read_text())


@pytest.fixture(scope="module")
def definitions(spec: dict[str, Any]) -> dict[str, Any]:
    defs = copy.deepcopy(spec["definitions"])
    for name, extra in _EXTRA_PROPERTIES.items():
        defs[name]["properties"].update(extra)
    for name, schema in defs.items():
        props = schema.get("properties", {})
        if name.endswith("Response") and "links" not in props and not name.startswith(("Assignment", "Submission")):
            props["links"] = _LINKS  # single objects carry a self link in real responses
            props["uri"] = {"type": "string"}  # list items carry their uri
        if name.endswith("Object"):
            props["previous_attributes"] = {"type": "object"}  # real placement (clever-api.md §6)
    strict = {name: to_json_schema(schema, strict=True) for name, schema in defs.items()}
    return strict


_FORMATS = {
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "mongo-id": re.compile(r"^[0-9a-f]{24}$"),
}


@pytest.fixture(scope="module")
def check(spec: dict[str, Any], definitions: dict[str, Any]) -> Any:
    checker = jsonschema.FormatChecker()
    for fmt, pattern in _FORMATS.items():
        checker.checks(fmt)(lambda value, p=pattern: not isinstance(value, str) or bool(p.match(value)))
    validators: dict[str, Any] = {}

    def validator(schema: dict[str, Any]) -> Any:
        """One compiled validator per schema (compiling dominates the demo-wide check)."""
        key = repr(schema)
        if key not in validators:
            validators[key] = jsonschema.Draft7Validator({**schema, "definitions": definitions}, format_checker=checker)
        return validators[key]

    fallback = {400: "BadRequest", 401: "Unauthorized", 403: "Unauthorized", 404: "NotFound",
                413: "BadRequest", 500: "InternalError"}

    def validate(template: str, method: str, response: httpx.Response) -> None:
        operation = spec["paths"][template.removeprefix("/v3.1")][method.lower()]
        declared = operation["responses"].get(str(response.status_code))
        if declared is None:
            assert response.status_code in fallback, f"{method} {template}: undeclared {response.status_code}"
            schema: dict[str, Any] = {"$ref": f"#/definitions/{fallback[response.status_code]}"}
        elif "$ref" in declared:
            schema = to_json_schema(spec["responses"][declared["$ref"].rsplit("/", 1)[1]]["schema"], strict=True)
        elif "schema" not in declared:
            assert response.content == b"", f"{method} {template}: expected an empty body"
            return
        else:
            schema = to_json_schema(declared["schema"], strict=True)
        body = response.json()
        validator(schema).validate(body)
        if template.endswith("/events") and response.status_code == 200:
            for item in body["data"]:  # each event also matches its own type's definition
                validator({"$ref": f"#/definitions/{item['data']['type']}"}).validate(item["data"])

    return validate


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Sandbox, str]]:
    with served(scale="tiny") as pair:
        yield pair


def test_oauth_tokens_match_the_documented_shape(world: tuple[Sandbox, str]) -> None:
    sandbox, url = world
    response = httpx.get(f"{url}/oauth/tokens", params={"owner_type": "district"}, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200
    body = response.json()
    assert body["links"] == [{"rel": "self", "uri": "/oauth/tokens?owner_type=district"}]
    assert [t["owner"] for t in body["data"]] == [{"type": "district", "id": d} for d in sandbox.district_ids()]
    for token in body["data"]:
        assert set(token) == {"id", "created", "owner", "access_token", "scopes"}
        assert re.fullmatch(r"[0-9a-f]{40}", token["access_token"])
        assert token["access_token"] == sandbox.token_for(token["owner"]["id"])


def test_data_api_routes_validate(world: tuple[Sandbox, str], check: Any) -> None:
    sandbox, url = world
    did = sandbox.district_ids()[0]
    user = sandbox.users(did, role="student")[0]
    section = sandbox.sections(did)[0]
    sandbox.set_user_matched(user["id"], not user["lms_status"]["synced_in_lms"])  # an event to list
    with client_for(sandbox, url, did) as client:
        event_id = client.get("/v3.1/events").json()["data"][-1]["data"]["id"]
        cases = [
            ("/v3.1/districts", "/v3.1/districts"),
            ("/v3.1/districts/{id}", f"/v3.1/districts/{did}"),
            ("/v3.1/schools", "/v3.1/schools"),
            ("/v3.1/schools/{id}", f"/v3.1/schools/{sandbox.schools(did)[0]['id']}"),
            ("/v3.1/terms", "/v3.1/terms"),
            ("/v3.1/terms/{id}", f"/v3.1/terms/{sandbox.terms(did)[0]['id']}"),
            ("/v3.1/sections", "/v3.1/sections?limit=2"),
            ("/v3.1/sections/{id}", f"/v3.1/sections/{section['id']}"),
            ("/v3.1/sections/{id}/users", f"/v3.1/sections/{section['id']}/users?role=student"),
            ("/v3.1/users", "/v3.1/users"),
            ("/v3.1/users", "/v3.1/users?role=teacher"),
            ("/v3.1/users", "/v3.1/users?role=contact"),
            ("/v3.1/courses", "/v3.1/courses"),
            ("/v3.1/resources", "/v3.1/resources?limit=3"),
            ("/v3.1/users/{id}", f"/v3.1/users/{user['id']}"),
            ("/v3.1/events", "/v3.1/events"),
            ("/v3.1/events/{id}", f"/v3.1/events/{event_id}"),
        ]
        for template, path in cases:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            check(template, "GET", response)
        other = sandbox.district_ids()[1]
        for template, path in [("/v3.1/districts/{id}", f"/v3.1/districts/{other}"),
                               ("/v3.1/users/{id}", f"/v3.1/users/{sandbox.users(other)[0]['id']}"),
                               ("/v3.1/sections/{id}", "/v3.1/sections/000000000000000000000000"),
                               ("/v3.1/sections/{id}/users", "/v3.1/sections/000000000000000000000000/users"),
                               ("/v3.1/schools/{id}", f"/v3.1/schools/{sandbox.schools(other)[0]['id']}"),
                               ("/v3.1/terms/{id}", "/v3.1/terms/x"),
                               ("/v3.1/events/{id}", "/v3.1/events/nope")]:
            response = client.get(path)
            assert response.status_code == 404, path
            check(template, "GET", response)
        too_big = client.get("/v3.1/users", params={"limit": 10001})
        assert too_big.status_code == 413
        check("/v3.1/users", "GET", too_big)
    for headers, status in [({}, 401), ({"Authorization": "Bearer not-a-token"}, 403)]:
        response = httpx.get(f"{url}/v3.1/users", headers=headers)
        assert response.status_code == status
        check("/v3.1/users", "GET", response)


def test_every_user_and_section_of_the_demo_validates(check: Any) -> None:
    """All roles, every lms_state (incl. "" and null) and every LMS: the whole demo roster."""
    with served(scale="demo") as (sandbox, url):
        for did in sandbox.district_ids():
            with client_for(sandbox, url, did) as client:
                for template in ("/v3.1/districts", "/v3.1/users", "/v3.1/sections", "/v3.1/schools", "/v3.1/terms"):
                    response = client.get(template, params={"limit": 10000})
                    assert response.status_code == 200
                    check(template, "GET", response)


def test_lms_connect_routes_validate(world: tuple[Sandbox, str], check: Any) -> None:
    sandbox, url = world
    ids = ready_setup(sandbox, "canvas")
    base = f"/v3.1/sections/{ids['section']}/assignments"
    with client_for(sandbox, url, ids["district"]) as client:
        created = client.post(base, json={
            "title": "Fractions Quiz 3", "description": "<p>Complete all questions</p>",
            "due_date": "2030-03-01T23:59:00.000Z", "display_date": "2020-02-20T08:00:00.000Z",
            "assignee_mode": "all", "points_possible": 20, "grading_type": "points",
            "submission_types": ["text"], "max_attempts": 1,
            "attachments": [{"type": "file", "url": "https://example.org/q.pdf", "title": "Quiz"}]})
        assert created.status_code == 200
        check("/sections/{section_id}/assignments", "POST", created)
        aid = created.json()["data"]["id"]
        one = f"{base}/{aid}"
        sub = f"{one}/submissions/{ids['student']}"
        cases = [
            ("GET", "/sections/{section_id}/assignments/{assignment_id}", one, None, 200),
            ("PATCH", "/sections/{section_id}/assignments/{assignment_id}", one, {"title": "Quiz 3b"}, 200),
            ("GET", "A/submissions", f"{one}/submissions?limit=1", None, 200),
            ("GET", "/sections/{section_id}/assignments/{assignment_id}/submissions/{user_id}", sub, None, 200),
            ("PATCH", "/sections/{section_id}/assignments/{assignment_id}/submissions/{user_id}", sub,
             {"grade_points": 18, "grade": "18", "grade_comment": "Nice", "state": "returned",
              "grader_id": ids["teacher"], "flags": ["late"]}, 200),
            ("POST", "/sections/{section_id}/assignments", base, {"title": "x"}, 400),
            ("PATCH", "/sections/{section_id}/assignments/{assignment_id}", one, {"grading_type": "stars"}, 400),
            ("GET", "/sections/{section_id}/assignments/{assignment_id}", f"{base}/{UNKNOWN_UUID}", None, 404),
            ("GET", "/sections/{section_id}/assignments/{assignment_id}/submissions/{user_id}",
             f"{one}/submissions/{ids['teacher']}", None, 404),
            ("PATCH", "/sections/{section_id}/assignments/{assignment_id}/submissions/{user_id}", sub,
             {"grader_id": ids["student"]}, 400),
            ("DELETE", "/sections/{section_id}/assignments/{assignment_id}", one, None, 200),
            ("GET", "/sections/{section_id}/assignments/{assignment_id}/submissions", f"{one}/submissions", None, 404),
        ]
        for method, short, path, body, status in cases:
            template = short.replace("A/", "/sections/{section_id}/assignments/{assignment_id}/")
            response = client.request(method, path, json=body)
            assert response.status_code == status, (method, path, response.text)
            check(template, method, response)
    for headers, status in [({}, 401), ({"Authorization": "Bearer not-a-token"}, 403)]:
        response = httpx.post(f"{url}{base}", headers=headers, json={})
        assert response.status_code == status
        check("/sections/{section_id}/assignments", "POST", response)


def test_schoology_internal_error_validates(world: tuple[Sandbox, str], check: Any) -> None:
    sandbox, url = world
    did = next(d for d in sandbox.district_ids() if sandbox.district(d)["lms_type"] == "schoology")
    student = next(u for u in sandbox.users(did, role="student")
                   if u["lms_status"]["synced_in_lms"] and not sandbox.has_launched(u["id"]))
    section = next(s for s in sandbox.sections(did)
                   if student["id"] in s["students"] and s["lms_status"]["synced_in_lms"])
    base = f"/v3.1/sections/{section['id']}/assignments"
    with client_for(sandbox, url, did) as client:
        body = {"title": "t", "description": "d", "due_date": "2030-01-01T00:00:00Z"}
        aid = client.post(base, json=body).json()["data"]["id"]
        response = client.patch(f"{base}/{aid}/submissions/{student['id']}", json={"grade_points": 3})
    assert response.status_code == 500
    assert response.json() == {"message": "Error updating submission"}
    check("/sections/{section_id}/assignments/{assignment_id}/submissions/{user_id}", "PATCH", response)


def test_related_lists_validate_and_agree_with_the_objects(world: tuple[Sandbox, str], check: Any) -> None:
    """Each related list or object the spec documents as 200 is served, spec-valid, and derived from references."""
    sandbox, url = world
    ids = ready_setup(sandbox, "canvas")
    did, sid, student, teacher = ids["district"], ids["section"], ids["student"], ids["teacher"]
    section = sandbox.section(sid)
    school, term = section["school"], section["term_id"]
    with client_for(sandbox, url, did) as client:
        def ids_of(path: str, template: str) -> list[str]:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            check(template, "GET", response)
            data = response.json()["data"]
            return [item["data"]["id"] for item in data] if isinstance(data, list) else [data["id"]]

        assert sid in ids_of(f"/v3.1/users/{student}/sections", "/v3.1/users/{id}/sections")
        assert student in ids_of(f"/v3.1/sections/{sid}/users", "/v3.1/sections/{id}/users")
        assert school in ids_of(f"/v3.1/users/{student}/schools", "/v3.1/users/{id}/schools")
        assert teacher in ids_of(f"/v3.1/users/{student}/myteachers", "/v3.1/users/{id}/myteachers")
        assert student in ids_of(f"/v3.1/users/{teacher}/mystudents", "/v3.1/users/{id}/mystudents")
        ids_of(f"/v3.1/users/{student}/mycontacts", "/v3.1/users/{id}/mycontacts")  # spec-valid (checked inside)
        assert ids_of(f"/v3.1/users/{student}/district", "/v3.1/users/{id}/district") == [did]
        assert sid in ids_of(f"/v3.1/schools/{school}/sections", "/v3.1/schools/{id}/sections")
        assert term in ids_of(f"/v3.1/schools/{school}/terms", "/v3.1/schools/{id}/terms")
        assert student in ids_of(f"/v3.1/schools/{school}/users?role=student", "/v3.1/schools/{id}/users")
        assert ids_of(f"/v3.1/schools/{school}/district", "/v3.1/schools/{id}/district") == [did]
        assert ids_of(f"/v3.1/sections/{sid}/school", "/v3.1/sections/{id}/school") == [school]
        assert ids_of(f"/v3.1/sections/{sid}/term", "/v3.1/sections/{id}/term") == [term]
        assert ids_of(f"/v3.1/sections/{sid}/district", "/v3.1/sections/{id}/district") == [did]
        assert sid in ids_of(f"/v3.1/terms/{term}/sections", "/v3.1/terms/{id}/sections")
        assert school in ids_of(f"/v3.1/terms/{term}/schools", "/v3.1/terms/{id}/schools")
        assert ids_of(f"/v3.1/terms/{term}/district", "/v3.1/terms/{id}/district") == [did]
        course = section["course"]
        assert ids_of(f"/v3.1/sections/{sid}/course", "/v3.1/sections/{id}/course") == [course]
        assert course in ids_of(f"/v3.1/schools/{school}/courses", "/v3.1/schools/{id}/courses")
        resources = ids_of(f"/v3.1/sections/{sid}/resources", "/v3.1/sections/{id}/resources")
        assert len(resources) == 1  # each course carries one resource
        assert resources == ids_of(f"/v3.1/courses/{course}/resources", "/v3.1/courses/{id}/resources")
        assert set(resources) <= set(ids_of(f"/v3.1/users/{teacher}/resources", "/v3.1/users/{id}/resources"))
        for_students = [r for r in sandbox.resources(did) if "student" in r["roles"]]
        assert set(ids_of(f"/v3.1/users/{student}/resources", "/v3.1/users/{id}/resources")) <= {
            r["id"] for r in for_students}
        other = sandbox.district_ids()[1]
        other_user, elsewhere = sandbox.users(other)[0]["id"], sandbox.courses(other)[0]["id"]
        for template, path in [("/v3.1/users/{id}/sections", f"/v3.1/users/{other_user}/sections"),
                               ("/v3.1/sections/{id}/course", "/v3.1/sections/000000000000000000000000/course"),
                               ("/v3.1/courses/{id}/sections", f"/v3.1/courses/{elsewhere}/sections"),
                               ("/v3.1/schools/{id}/users", "/v3.1/schools/000000000000000000000000/users")]:
            response = client.get(path)
            assert response.status_code == 404, path  # another district's user or course, unknown section or school
            check(template, "GET", response)


def test_courses_and_resources_validate_and_agree_with_the_sections(world: tuple[Sandbox, str], check: Any) -> None:
    """Every course is some section's; a resource reaches its courses' sections and their members in its roles."""
    sandbox, url = world
    did = sandbox.district_ids()[0]
    sections, courses, resources = sandbox.sections(did), sandbox.courses(did), sandbox.resources(did)
    assert {c["id"] for c in courses} == {s["course"] for s in sections}
    with client_for(sandbox, url, did) as client:
        def ids_of(path: str, template: str, **params: str) -> list[str]:
            response = client.get(path, params={"limit": 10000, **params})
            assert response.status_code == 200, (path, response.text)
            check(template, "GET", response)
            data = response.json()["data"]
            return [item["data"]["id"] for item in data] if isinstance(data, list) else [data["id"]]

        assert ids_of("/v3.1/courses", "/v3.1/courses") == [c["id"] for c in courses]
        assert ids_of("/v3.1/resources", "/v3.1/resources") == [r["id"] for r in resources]
        covered: set[str] = set()
        for course in courses:
            cid = course["id"]
            assert ids_of(f"/v3.1/courses/{cid}", "/v3.1/courses/{id}") == [cid]
            assert ids_of(f"/v3.1/courses/{cid}/district", "/v3.1/courses/{id}/district") == [did]
            of_course = [s for s in sections if s["course"] == cid]
            assert ids_of(f"/v3.1/courses/{cid}/sections", "/v3.1/courses/{id}/sections") == [
                s["id"] for s in of_course]
            assert set(ids_of(f"/v3.1/courses/{cid}/schools", "/v3.1/courses/{id}/schools")) == {
                s["school"] for s in of_course}
            covered |= set(ids_of(f"/v3.1/courses/{cid}/resources", "/v3.1/courses/{id}/resources"))
        assert covered == {r["id"] for r in resources}  # every resource is some course's
        for resource in resources:
            rid = resource["id"]
            assert ids_of(f"/v3.1/resources/{rid}", "/v3.1/resources/{id}") == [rid]
            its_courses = set(ids_of(f"/v3.1/resources/{rid}/courses", "/v3.1/resources/{id}/courses"))
            its_sections = [s for s in sections if s["course"] in its_courses]
            assert ids_of(f"/v3.1/resources/{rid}/sections", "/v3.1/resources/{id}/sections") == [
                s["id"] for s in its_sections]
            members = {u for s in its_sections for u in s["students"] + s["teachers"]}
            users = ids_of(f"/v3.1/resources/{rid}/users", "/v3.1/resources/{id}/users")
            assert set(users) <= members and users
            for role in ("student", "teacher"):
                listed = ids_of(f"/v3.1/resources/{rid}/users", "/v3.1/resources/{id}/users", role=role)
                expected = sorted(u for u in members if role in resource["roles"] and role in sandbox.user(u)["roles"])
                assert listed == expected, (resource["title"], role)
        bad_role = client.get(f"/v3.1/resources/{resources[0]['id']}/users", params={"role": "staff"})
        assert bad_role.status_code == 400
        check("/v3.1/resources/{id}/users", "GET", bad_role)
        foreign = sandbox.resources(sandbox.district_ids()[1])[0]["id"]
        for template, path in [("/v3.1/courses/{id}", "/v3.1/courses/000000000000000000000000"),
                               ("/v3.1/resources/{id}", f"/v3.1/resources/{foreign}")]:
            response = client.get(path)
            assert response.status_code == 404, path
            check(template, "GET", response)


def test_attendance_validates_and_follows_the_roster(world: tuple[Sandbox, str], check: Any) -> None:
    """A section: each member student once per school day; a school: each of its students' daily record."""
    sandbox, url = world
    ids = ready_setup(sandbox, "canvas")
    section = sandbox.section(ids["section"])
    school = section["school"]
    with client_for(sandbox, url, ids["district"]) as client:
        def records(path: str, template: str, **params: Any) -> list[dict[str, Any]]:
            response = client.get(path, params={"limit": 1000, **params})
            assert response.status_code == 200, (path, response.text)
            check(template, "GET", response)
            return response.json()["data"]

        by_section = records(f"/v3.1/attendance/sections/{section['id']}", "/attendance/sections/{section_id}")
        days = sorted({r["attendance_date"] for r in by_section})
        assert len(days) == 10 and len(by_section) == 10 * len(section["students"])
        assert {(r["attendance_date"], r["student_id"]) for r in by_section} == {
            (d, s) for d in days for s in section["students"]}
        assert {r["attendance_type"] for r in by_section} == {"section"}
        assert {r["section_id"] for r in by_section} == {section["id"]}
        assert {r["attendance_status"] for r in by_section} <= {"present", "absent", "tardy"}
        assert "present" in {r["attendance_status"] for r in by_section}
        assert by_section == records(f"/v3.1/attendance/sections/{section['id']}",
                                     "/attendance/sections/{section_id}")  # the same every time
        late = records(f"/v3.1/attendance/sections/{section['id']}", "/attendance/sections/{section_id}",
                       date_range_start=days[-3], attendance_status="present")
        assert late == [r for r in by_section
                        if r["attendance_date"] >= days[-3] and r["attendance_status"] == "present"]
        daily = records(f"/v3.1/attendance/schools/{school}", "/attendance/schools/{school_id}",
                        date_range_end=days[0])
        students = {u["id"] for u in sandbox.users(ids["district"], role="student")
                    if u["roles"]["student"]["school"] == school}
        assert {r["student_id"] for r in daily} == students and len(daily) == len(students)
        assert {r["attendance_type"] for r in daily} == {"daily"} and all("section_id" not in r for r in daily)
        first = client.get(f"/v3.1/attendance/schools/{school}", params={"limit": 3})
        rest = client.get(next(link["uri"] for link in first.json()["links"] if link["rel"] == "next"))
        assert [r["sis_id"] for r in first.json()["data"] + rest.json()["data"]][:6] == [
            r["sis_id"] for r in records(f"/v3.1/attendance/schools/{school}", "/attendance/schools/{school_id}")][:6]
        for params in ({"limit": 1001}, {"limit": 0}, {"date_range_start": "2025-02-30"}, {"date_range_end": ""},
                       {"attendance_status": "late"}):
            response = client.get(f"/v3.1/attendance/sections/{section['id']}", params=params)
            assert response.status_code == 400, params
            check("/attendance/sections/{section_id}", "GET", response)
        elsewhere = sandbox.sections(sandbox.district_ids()[1])[0]["id"]
        response = client.get(f"/v3.1/attendance/sections/{elsewhere}")
        assert response.status_code == 404
        check("/attendance/sections/{section_id}", "GET", response)
