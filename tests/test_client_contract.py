"""Every request our client sends conforms to Clever's official spec (the other half of the contract).

A real workload (full and incremental sync, grade pushes, a gated retry, every LMS Connect call)
runs through the production client against the loopback sandbox; a recording transport keeps each
request, and each one is checked against ../shared/clever-spec/v3.1-client.yml, read at test time:
the path and method are an operation of the spec, every query parameter is declared (type, range,
enum), path ids have the declared format, bodies validate against the request schemas (closed: no
undeclared field), and every API call carries a Bearer token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from spec_support import SPEC_FILE, to_json_schema

from lmsdata.client import CleverClient
from lmsdata.config import Settings
from lmsdata.pushes import GradePusher, retry_pushes
from lmsdata.sandbox import Sandbox
from lmsdata.sync import sync

pytestmark = pytest.mark.skipif(
    not SPEC_FILE.exists(), reason=f"Clever's spec is not present at {SPEC_FILE} (the shared folder is absent)"
)
yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

FUTURE = "2031-05-01T23:59:00.000Z"
MONGO_ID = re.compile(r"^[0-9a-f]{24}$")
LMS_OPERATIONS = {
    "createAssignmentForSection", "getAssignmentForSection", "updateAssignmentForSection",
    "deleteAssignmentForSection", "getSubmissionsForAssignment", "getSubmissionForAssignment",
    "updateSubmissionForAssignment",
}  # fmt: skip


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that remembers every request it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return super().handle_request(request)


def _synced(obj: dict[str, Any]) -> bool:
    return bool((obj.get("lms_status") or {}).get("synced_in_lms"))


def _workload(sandbox: Sandbox, settings: Settings) -> Recording:
    """What production does: sync, push, retry after a fix, read back, delete."""
    recording = Recording()
    with CleverClient.from_settings(settings, transport=recording) as client:
        sync(client, settings.db_path, full=True)
        district_id = next(d for d in sandbox.district_ids() if sandbox.district(d)["lms_state"] == "success")
        section = next(s for s in sandbox.sections(district_id) if _synced(s) and len(s["students"]) >= 2)
        matched = [u for u in section["students"] if _synced(sandbox.user(u)) and sandbox.has_launched(u)]
        unmatched = [u for u in section["students"] if not _synced(sandbox.user(u))]
        assert matched and unmatched, "the demo sandbox has partly matched sections"

        sandbox.add_user(district_id, role="student", section_ids=[section["id"]])  # an event to pull
        sync(client, settings.db_path)

        with GradePusher(client, settings.db_path) as pusher:
            body = {"title": "Fractions Quiz", "description": "<p>All of it</p>", "due_date": FUTURE,
                    "assignee_mode": "all", "points_possible": 20, "grading_type": "points",
                    "submission_types": ["text"], "max_attempts": 1}  # fmt: skip
            assert pusher.create_assignment(district_id, section["id"], "quiz-1", body).state == "sent"
            pusher.update_assignment(district_id, section["id"], "quiz-1", {**body, "points_possible": 25})
            grade = {"grade_points": 18, "grade": "18", "grade_comment": "Nice work", "state": "returned",
                     "grader_id": section["teacher"], "flags": []}  # fmt: skip
            assert pusher.push_grade(district_id, section["id"], "quiz-1", matched[0], grade).state == "sent"
            assert pusher.push_grade(district_id, section["id"], "quiz-1", unmatched[0], grade).state == "failed"

        sandbox.set_user_matched(unmatched[0], True)  # the district fixes the match: the retry is gated, then sent
        report = retry_pushes(client, settings.db_path, all_failed=True)
        assert [item.outcome for item in report.items] == ["sent"]

        dc = client.district(district_id)
        assignment_id = _assignment_id(settings.db_path)
        dc.get_assignment(section["id"], assignment_id)
        assert list(dc.iter_submissions(section["id"], assignment_id))
        dc.get_submission(section["id"], assignment_id, matched[0])
        dc.delete_assignment(section["id"], assignment_id)
    return recording


def _assignment_id(db_path: Path) -> str:
    from lmsdata.db import connect

    with connect(db_path) as db:
        return str(db.execute("SELECT assignment_id FROM assignments WHERE assignment_key = 'quiz-1'").fetchone()[0])


def _operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The spec's template, operation and path values for a concrete request path."""
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
        found = re.match(pattern, path)
        if found and method.lower() in item:
            operation = dict(item[method.lower()])
            operation["parameters"] = [*item.get("parameters", []), *operation.get("parameters", [])]
            return template, operation, found.groupdict()
    raise AssertionError(f"{method} {path} is not an operation of Clever's v3.1 spec")


def _check_query(template: str, declared: dict[str, dict[str, Any]], params: httpx.QueryParams) -> None:
    for name in params:
        assert name in declared and declared[name]["in"] == "query", f"{template}: undeclared query parameter {name}"
        spec = declared[name]
        values = params.get_list(name)
        if spec.get("type") != "array":
            assert len(values) == 1, f"{template}: {name} given {len(values)} times"
        for value in values:
            if spec.get("type") == "integer":
                number = int(value)
                assert spec.get("minimum", number) <= number <= spec.get("maximum", number), f"{template}: {name}"
            if "enum" in spec:
                assert value in spec["enum"], f"{template}: {name}={value!r} is not one of {spec['enum']}"


def _check_body(template: str, operation: dict[str, Any], request: httpx.Request, check: Any) -> None:
    body_params = [p for p in operation["parameters"] if p.get("in") == "body"]
    if not body_params:
        assert request.content == b"", f"{template}: a body the spec does not take"
        return
    assert request.headers.get("content-type", "").startswith("application/json")
    check(to_json_schema(body_params[0]["schema"], strict=True), json.loads(request.content))


def test_every_request_the_client_sends_is_an_operation_of_the_spec(sandbox: Sandbox, settings: Settings) -> None:
    spec = yaml.safe_load(SPEC_FILE.read_text())
    definitions = {name: to_json_schema(schema, strict=True) for name, schema in spec["definitions"].items()}

    def check(schema: dict[str, Any], body: Any) -> None:
        jsonschema.Draft7Validator({**schema, "definitions": definitions}).validate(body)

    recording = _workload(sandbox, settings)
    used: set[str] = set()
    for request in recording.requests:
        path = request.url.path
        if path == "/oauth/tokens":  # on clever.com, outside the API spec (clever-api.md §1.2)
            assert request.method == "GET" and request.url.params.get("owner_type") == "district"
            assert request.headers["authorization"].startswith("Basic ")
            continue
        assert path.startswith(spec["basePath"] + "/"), f"{path} is outside {spec['basePath']}"
        template, operation, values = _operation(spec, request.method, path.removeprefix(spec["basePath"]))
        used.add(operation["operationId"])
        assert request.headers["authorization"].startswith("Bearer "), f"{template}: no bearer token"
        declared = {p["name"]: p for p in operation["parameters"] if "name" in p}
        for name, value in values.items():
            assert declared[name]["in"] == "path"
            if declared[name].get("format") == "mongo-id":
                assert MONGO_ID.match(value), f"{template}: {name}={value!r} is not a Clever id"
        _check_query(template, declared, request.url.params)
        _check_body(template, operation, request, check)

    assert used >= LMS_OPERATIONS, f"not exercised: {sorted(LMS_OPERATIONS - used)}"
    assert {"getDistrict", "getSchools", "getTerms", "getSections", "getUsers", "getEvents"} <= used
