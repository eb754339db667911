"""LMS Connect grade passback: the seven assignment/submission operations, Clever's wording.

Messages are the documented ones (clever-api.md §7.6) verbatim; where Clever documents none the
choice is marked [INF] there and repeated in docs/sandbox.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lmsdata.sandbox import gojson
from lmsdata.sandbox.http import JSON_TYPE, Request, Response, json_response, message
from lmsdata.sandbox.ids import assignment_uuid, is_uuid
from lmsdata.sandbox.timefmt import iso, parse_iso
from lmsdata.sandbox.world import UnknownObject, World, role_of

NOT_ENABLED = "LMS Connect is not enabled for this district"
CURSOR_TTL_S = 2 * 3600.0
ASSIGNMENT_STATES = ("draft", "scheduled", "open", "locked")
SUBMISSION_STATES = ("created", "submitted", "returned", "reclaimed")
FLAGS = ("excused", "late", "missing")
_TAGS = re.compile(r"<[^>]+>")

# field -> (json type, enum or None); "datetime" is a string parsed later.
_ASSIGNMENT_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "title": ("string", None), "description": ("string", None),
    "description_plaintext": ("string", None), "due_date": ("datetime", None),
    "display_date": ("datetime", None), "start_date": ("datetime", None),
    "end_date": ("datetime", None), "assignee_mode": ("string", ("all", "individuals")),
    "assignee_ids": ("string[]", None), "attachments": ("attachment[]", ("file",)),
    "points_possible": ("number", None),
    "grading_type": ("string", ("points", "percent", "pass_fail", "letter_grade")),
    "submission_types": ("string[]", ("link", "file", "text", "discussion")),
    "max_attempts": ("integer", None), "term_id": ("string", None),
    "state": ("string", ASSIGNMENT_STATES),
}
_SUBMISSION_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "state": ("string", SUBMISSION_STATES), "flags": ("string[]", FLAGS),
    "grade": ("string", None), "grade_points": ("number", None), "grade_comment": ("string", None),
    "grader_id": ("string", None), "extra_attempts": ("integer", None),
    "override_due_date": ("datetime", None), "attachments": ("attachment[]", ("file", "link", "text")),
}


class Invalid(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.response = message(status, text)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


# Fields Clever's response schema requires to be strings: a null in a request is refused, as Clever does,
# so a later GET never serves a body that breaks the schema.
_NOT_NULL = ("title", "description", "state")


def _check(name: str, value: Any, kind: str, enum: tuple[str, ...] | None, nullable: bool = True) -> list[str]:
    """go-swagger style validation lines for one body field (null allowed unless `nullable` is False)."""
    if value is None:
        return [] if nullable else [f'{name} in body must be of type {kind}: "null"']
    if kind == "datetime" and value == "":
        return [f'{name} in body must be of type date-time: ""']
    base = kind.removesuffix("[]")
    if kind.endswith("[]"):
        if not isinstance(value, list):
            return [f'{name} in body must be of type array: "{_json_type(value)}"']
        return [line for i, item in enumerate(value) for line in _check(f"{name}.{i}", item, base, enum)]
    if base == "attachment":
        if not isinstance(value, dict):
            return [f'{name} in body must be of type object: "{_json_type(value)}"']
        return _check(f"{name}.type", value.get("type"), "string", enum, nullable=False)
    expected = {"datetime": "string", "integer": "integer"}.get(base, base)
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
    }[expected]
    if not ok:
        return [f'{name} in body must be of type {expected}: "{_json_type(value)}"']
    if enum and value not in enum:
        return [f"{name} in body should be one of [{' '.join(enum)}]"]
    return []


def parse_body(request: Request, fields: dict[str, tuple[str, tuple[str, ...] | None]]) -> dict[str, Any]:
    if not request.body.strip():
        raise Invalid(400, "request body is required, but was empty")
    try:
        body = gojson.loads(request.body)
    except gojson.GoJSONError as exc:
        raise Invalid(400, str(exc)) from None
    if not isinstance(body, dict):
        raise Invalid(400, f"json: cannot unmarshal {_json_type(body)} into Go value of type map[string]interface {{}}")
    problems = [line for key, (kind, enum) in fields.items() if key in body
                for line in _check(key, body[key], kind, enum, nullable=key not in _NOT_NULL)]
    if problems:
        raise Invalid(400, "validation failure list:\n" + "\n".join(problems))
    return {k: v for k, v in body.items() if k in fields}


def parse_time(value: str) -> float:
    try:
        return parse_iso(value)
    except ValueError as exc:
        if "day is out of range" in str(exc):
            raise Invalid(400, f'parsing time "{value}": day out of range') from None
        raise Invalid(400, f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": '
                           f'cannot parse "{value}" as "2006"') from None


def _normalise_times(body: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Check every given timestamp and store it in Clever's own format."""
    for key in keys:
        if body.get(key):
            body[key] = iso(parse_time(body[key]))


@dataclass
class AssignmentRecord:
    district: int
    section_id: str
    data: dict[str, Any]
    deleted: bool = False


@dataclass
class Gradebook:
    world: World
    clock: Callable[[], float]
    assignments: dict[str, AssignmentRecord] = field(default_factory=dict)
    submissions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    grade_writes: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ---- shared checks ---------------------------------------------------------------------
    def _section(self, index: int, section_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        district = self.world.district(index)
        if district["lms_state"] != "success":
            raise Invalid(400, NOT_ENABLED)
        found = self.world.section(section_id)
        if found is None or found[0] != index or not (found[1].get("lms_status") or {}).get("synced_in_lms"):
            raise Invalid(404, "Section not found")
        return district, found[1]

    def _assignment(self, section_id: str, assignment_id: str) -> AssignmentRecord:
        if not is_uuid(assignment_id):
            raise Invalid(400, "INVALID_ID")
        record = self.assignments.get(assignment_id)
        if record is None or record.deleted or record.section_id != section_id:
            raise Invalid(404, "Assignment does not exist")
        return record

    def _assignee(self, index: int, section: dict[str, Any], record: AssignmentRecord,
                  user_id: str) -> dict[str, Any]:
        found = self.world.user(user_id) if user_id in section["students"] else None
        data = record.data
        if (found is None or found[0] != index
                or not (found[1].get("lms_status") or {}).get("synced_in_lms")
                or (data.get("assignee_mode") == "individuals" and user_id not in data.get("assignee_ids", []))):
            raise Invalid(404, "User not found")
        return found[1]

    def _record_write(self, kind: str, index: int, section_id: str, assignment_id: str,
                      user_id: str | None, body: dict[str, Any]) -> None:
        self.grade_writes.append({
            "kind": kind, "district_id": self.world.district_id(index), "section_id": section_id,
            "assignment_id": assignment_id, "user_id": user_id, "body": body, "at": iso(self.clock()),
        })

    # ---- assignments -----------------------------------------------------------------------
    def _apply(self, data: dict[str, Any], body: dict[str, Any], lms_type: str | None) -> None:
        """Merge a validated AssignmentRequest into the stored assignment, with per-LMS rules."""
        requested_state = body.pop("state", None)
        for key, value in body.items():
            if key == "attachments":
                value = [{"type": a.get("type"), "url": a.get("url"), "title": a.get("title"),
                          "description": a.get("description"), "file_external_id": None,
                          "thumbnail_url": None} for a in value or []]
            data[key] = value
        for key in ("assignee_ids", "attachments", "submission_types", "max_attempts"):
            if data.get(key) in (None, []):
                data.pop(key, None)  # x-omitempty
        if "description" in body and "description_plaintext" not in body and data.get("description"):
            data["description_plaintext"] = _TAGS.sub("", data["description"]).strip()
        data["grading_type"] = data.get("grading_type") or "points"
        if lms_type == "canvas":
            data["start_date"] = data.get("display_date")  # Canvas: start_date follows display_date
            data["term_id"] = None
            now = self.clock()
            if data.get("end_date") and parse_iso(data["end_date"]) < now:
                data["state"] = "locked"
            elif data.get("display_date") and parse_iso(data["display_date"]) > now:
                data["state"] = "scheduled"
            else:
                data["state"] = "open"
        elif requested_state:
            data["state"] = requested_state
        data["last_modified"] = iso(self.clock())

    def create_assignment(self, request: Request, index: int, section_id: str) -> Response:
        district, _ = self._section(index, section_id)
        body = parse_body(request, _ASSIGNMENT_FIELDS)
        missing = [k for k in ("title", "description", "due_date") if body.get(k) in (None, "")]
        if missing:
            raise Invalid(400, f"missing required field(s): {', '.join(missing)}")
        _normalise_times(body, ("due_date", "display_date", "start_date", "end_date"))
        if parse_iso(body["due_date"]) <= self.clock():
            raise Invalid(400, "due_date must be in the future")
        with self.lock:
            assignment_id = assignment_uuid(self.world.seed, len(self.assignments))
            now = iso(self.clock())
            data: dict[str, Any] = {
                "id": assignment_id, "title": None, "description": None, "description_plaintext": None,
                "state": "open", "assignee_mode": "all", "due_date": None, "display_date": None,
                "start_date": None, "end_date": None, "points_possible": None, "grading_type": "points",
                "term_id": None, "category_id": None, "created": now, "last_modified": now,
            }
            self._apply(data, dict(body), district["lms_type"])
            self.assignments[assignment_id] = AssignmentRecord(index, section_id, data)
            self._record_write("assignment.create", index, section_id, assignment_id, None, body)
            return json_response(200, {"data": data})

    def get_assignment(self, request: Request, index: int, section_id: str, assignment_id: str) -> Response:
        self._section(index, section_id)
        return json_response(200, {"data": self._assignment(section_id, assignment_id).data})

    def update_assignment(self, request: Request, index: int, section_id: str, assignment_id: str) -> Response:
        district, _ = self._section(index, section_id)
        record = self._assignment(section_id, assignment_id)
        body = parse_body(request, _ASSIGNMENT_FIELDS)
        raw_due = body.get("due_date")
        _normalise_times(body, ("due_date", "display_date", "start_date", "end_date"))
        if raw_due and parse_iso(body["due_date"]) <= self.clock():
            # Documented: a past due date on update gives Go's time-parsing message.
            raise Invalid(400, f'parsing time "{raw_due}": day out of range')
        with self.lock:
            self._apply(record.data, dict(body), district["lms_type"])
            self._record_write("assignment.update", index, section_id, assignment_id, None, body)
            return json_response(200, {"data": record.data})

    def delete_assignment(self, request: Request, index: int, section_id: str, assignment_id: str) -> Response:
        self._section(index, section_id)
        with self.lock:
            record = self._assignment(section_id, assignment_id)
            record.deleted = True
            self._record_write("assignment.delete", index, section_id, assignment_id, None, {})
        return Response(200, b"", None, [("Content-Type", JSON_TYPE)])  # the spec's media type, empty body

    def delete_in_lms(self, assignment_id: str) -> None:
        with self.lock:
            record = self.assignments.get(assignment_id)
            if record is None:
                raise UnknownObject(f"unknown assignment {assignment_id!r}")
            record.deleted = True

    def teacher_edit(self, assignment_id: str, user_id: str, grade: str | None, grade_points: float | None,
                     grader_id: str, minutes_later: float = 5.0) -> dict[str, Any]:
        """A teacher's hand edit in the LMS: their grader_id, last_modified after every write so far."""
        with self.lock:
            record = self.assignments.get(assignment_id)
            if record is None or user_id not in (self.world.section(record.section_id) or (0, {}))[1].get(
                    "students", ()):
                raise UnknownObject(f"unknown assignment {assignment_id!r} or student {user_id!r}")
            current = dict(self.submission(record, user_id, None))
            current.update({"grade": grade, "grader_id": grader_id,
                            "last_modified": iso(self.clock() + minutes_later * 60)})
            if grade_points is None:
                current.pop("grade_points", None)
            else:
                current["grade_points"] = grade_points
            self.submissions[(assignment_id, user_id)] = current
            return dict(current)

    # ---- submissions -----------------------------------------------------------------------
    def submission(self, record: AssignmentRecord, user_id: str, lms_type: str | None) -> dict[str, Any]:
        stored = self.submissions.get((record.data["id"], user_id))
        if stored is not None:
            return stored
        digest = hashlib.sha1(f"{record.data['id']}:{user_id}".encode()).hexdigest()[:24]
        return {
            "id": "" if lms_type == "google_classroom" else digest,
            "assignment_id": record.data["id"], "user_id": user_id, "state": "created",
            "grade": None, "grade_comment": None, "grader_id": None, "override_due_date": None,
            "created": record.data["created"], "last_modified": record.data["created"],
        }

    def list_submissions(self, request: Request, index: int, section_id: str, assignment_id: str) -> Response:
        district, section = self._section(index, section_id)
        record = self._assignment(section_id, assignment_id)
        limit = _submission_limit(request.param("limit"))
        after, issued = "", self.clock()
        if request.param("cursor"):
            after, issued = self._decode_cursor(request.param("cursor") or "", assignment_id)
        eligible = []
        for uid in sorted(section["students"]):
            if uid <= after:
                continue
            try:
                self._assignee(index, section, record, uid)
            except Invalid:
                continue
            eligible.append(uid)
            if len(eligible) > limit:
                break
        page = eligible[:limit]
        payload: dict[str, Any] = {"data": [self.submission(record, uid, district["lms_type"]) for uid in page]}
        if len(eligible) > limit:
            cursor = _encode_cursor(assignment_id, page[-1], issued)
            uri = f"/v3.1/sections/{section_id}/assignments/{assignment_id}/submissions?cursor={cursor}"
            if request.param("limit"):
                uri += f"&limit={limit}"
            payload["links"] = [{"rel": "next", "uri": uri}]
        return json_response(200, payload)

    def _decode_cursor(self, cursor: str, assignment_id: str) -> tuple[str, float]:
        try:
            state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            after, issued, owner = str(state["u"]), float(state["t"]), state["a"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise Invalid(400, "invalid cursor") from None
        if owner != assignment_id:
            raise Invalid(400, "invalid cursor")
        if self.clock() - issued > CURSOR_TTL_S:
            raise Invalid(400, "cursor expired")
        return after, issued

    def get_submission(self, request: Request, index: int, section_id: str, assignment_id: str,
                       user_id: str) -> Response:
        district, section = self._section(index, section_id)
        record = self._assignment(section_id, assignment_id)
        self._assignee(index, section, record, user_id)
        return json_response(200, {"data": self.submission(record, user_id, district["lms_type"])})

    def update_submission(self, request: Request, index: int, section_id: str, assignment_id: str,
                          user_id: str) -> Response:
        district, section = self._section(index, section_id)
        record = self._assignment(section_id, assignment_id)
        body = parse_body(request, _SUBMISSION_FIELDS)
        self._assignee(index, section, record, user_id)
        _normalise_times(body, ("override_due_date",))
        grader = body.get("grader_id")
        if grader:
            found = self.world.user(grader)
            if found is None or found[0] != index or role_of(found[1]) != "teacher":
                raise Invalid(400, f"NOT_FOUND: Person with id clever:{grader} not found for this integration.")
        lms_type = district["lms_type"]
        if lms_type == "schoology":
            if any(a.get("type") == "link" for a in body.get("attachments") or []):
                raise Invalid(400, "Schoology does not support submission type of link")
            if not self.world.has_launched(index, user_id):
                raise Invalid(500, "Error updating submission")
        with self.lock:
            current = dict(self.submission(record, user_id, lms_type))
            for key, value in body.items():
                current[key] = value
            flags = current.get("flags") or []
            if lms_type == "canvas" and len(flags) > 1:
                flags = [next(f for f in ("excused", "missing", "late") if f in flags)]
            current["flags"] = flags
            for key in ("flags", "attachments", "grade_points", "extra_attempts"):
                if current.get(key) in (None, []):
                    current.pop(key, None)  # x-omitempty
            if "attachments" in current:
                current["attachments"] = [{"type": a.get("type"), "url": a.get("url") or a.get("text"),
                                           "title": a.get("title"), "description": a.get("description"),
                                           "file_external_id": None, "thumbnail_url": None}
                                          for a in current["attachments"]]
            current["last_modified"] = iso(self.clock())
            self.submissions[(assignment_id, user_id)] = current
            self._record_write("submission.update", index, section_id, assignment_id, user_id, body)
            return json_response(200, {"data": current})


def _submission_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return 100
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid(400, f'limit in query must be of type integer: "{raw}"') from None
    if limit < 1:
        raise Invalid(400, "limit in query should be greater than or equal to 1")
    if limit > 100:
        raise Invalid(400, "limit in query should be less than or equal to 100")
    return limit


def _encode_cursor(assignment_id: str, after: str, issued: float) -> str:
    raw = json.dumps({"a": assignment_id, "u": after, "t": issued}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
