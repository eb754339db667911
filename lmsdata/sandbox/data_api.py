"""Data API v3.1 reads and the OAuth token list, each bound to the caller's district."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs

from lmsdata.sandbox import paging
from lmsdata.sandbox.data import Collection, wrap
from lmsdata.sandbox.http import Request, Response, json_response, message
from lmsdata.sandbox.ids import Kind, object_id
from lmsdata.sandbox.timefmt import iso
from lmsdata.sandbox.world import World, role_of

NOT_FOUND = "Resource not found"
USER_ROLES = ("contact", "district_admin", "staff", "student", "teacher")
SCOPES = ["read:district_admins", "read:school_admins", "read:sis", "read:user_id", "read:lms", "write:lms"]


def _single(request: Request, obj: dict[str, Any]) -> Response:
    return json_response(200, {"data": obj, "links": [{"rel": "self", "uri": request.path}]})


def _listing(request: Request, items: Collection) -> Response:
    limit = paging.parse_limit(request)
    if isinstance(limit, Response):
        return limit
    return paging.page(request, items, limit)


def _schools_of(obj: dict[str, Any]) -> set[str]:
    """The schools an event's object belongs to (a section's school, a user's schools in any role)."""
    found = {obj["school"]} if obj.get("school") else set()
    for role in (obj.get("roles") or {}).values():
        found.update(role.get("schools") or [])
        if role.get("school"):
            found.add(role["school"])
    return found


class DataApi:
    def __init__(self, world: World, client_id: str, client_secret: str) -> None:
        self.world, self.client_id, self.client_secret = world, client_id, client_secret

    # ---- OAuth ------------------------------------------------------------------------------
    def basic_client(self, request: Request) -> str | None:
        """The client id of a well-formed Basic header (checked later), else None."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            return base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None

    def tokens(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if not header:
            return message(401, "No authorization provided")
        try:
            raw = base64.b64decode(header.partition(" ")[2].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raw = ""
        client_id, _, secret = raw.partition(":")
        if not header.lower().startswith("basic ") or (client_id, secret) != (self.client_id, self.client_secret):
            return message(401, "Invalid client credentials")
        if _token_param(request, "owner_type") != "district":
            return message(400, "owner_type is required and currently only supports 'district'")
        wanted = _token_param(request, "district")
        world, data = self.world, []
        for index, token in enumerate(world.tokens):
            district_id = world.district_id(index)
            if index in world.revoked or wanted not in (None, "", district_id):
                continue
            data.append({
                "id": object_id(world.seed, index, Kind.TOKEN, 0),
                "created": iso(world.started_at - 86400 * (30 + index % 300)),
                "owner": {"type": "district", "id": district_id},
                "access_token": token,
                "scopes": SCOPES,
            })
        return json_response(200, {"data": data, "links": [{"rel": "self", "uri": request.target}]})

    # ---- districts, schools, terms ----------------------------------------------------------
    def districts(self, request: Request, index: int) -> Response:
        obj = self.world.district(index)
        return _listing(request, Collection([obj["id"]], [wrap("districts", obj)]))

    def district(self, request: Request, index: int, district_id: str) -> Response:
        if district_id != self.world.district_id(index):
            return message(404, NOT_FOUND)
        return _single(request, self.world.district(index))

    def listing(self, name: str) -> Any:
        def handler(request: Request, index: int) -> Response:
            role = None
            if name == "users":
                role = request.param("role")  # "" is outside the spec's enum too
                if role is not None and role not in USER_ROLES:
                    return message(400, f"role in query should be one of [{' '.join(USER_ROLES)}]")
            return _listing(request, self.world.collection(index, name, role))
        return handler

    def single(self, name: str) -> Any:
        lookup = {"users": self.world.user, "sections": self.world.section, "schools": self.world.school,
                  "terms": self.world.term, "courses": self.world.course, "resources": self.world.resource}[name]

        def handler(request: Request, index: int, object_id_: str) -> Response:
            found = lookup(object_id_)
            if found is None or found[0] != index:
                return message(404, NOT_FOUND)
            return _single(request, found[1])
        return handler

    def section_users(self, request: Request, index: int, section_id: str) -> Response:
        found = self.world.section(section_id)
        if found is None or found[0] != index:
            return message(404, NOT_FOUND)
        role = request.param("role")
        if role not in (None, "student", "teacher"):
            return message(400, "role in query should be one of [student teacher]")
        section, members = found[1], Collection()
        for uid in sorted(set(section.get("students", [])) | set(section.get("teachers", []))):
            user = self.world.user(uid)
            if user is not None and role in (None, role_of(user[1])):
                members.add("users", user[1])
        return _listing(request, members)

    # ---- events -----------------------------------------------------------------------------
    def events(self, request: Request, index: int) -> Response:
        events = self.world.events(index)
        after = request.param("starting_after")
        if after and after not in {e["id"] for e in events}:
            return message(404, NOT_FOUND)  # unknown or past the 30-day retention: resync
        types = set(request.query.get("record_type", []))
        school = request.param("school")
        items = Collection()
        for event in events:
            record_type = event["type"].split(".")[0]
            if types and record_type not in types:
                continue
            if school and school not in _schools_of(event["data"]["object"]):
                continue
            items.add("events", event)
        return _listing(request, items)

    def event(self, request: Request, index: int, event_id: str) -> Response:
        for event in self.world.events(index):
            if event["id"] == event_id:
                return _single(request, event)
        return message(404, NOT_FOUND)


def _token_param(request: Request, name: str) -> str | None:
    """A `/oauth/tokens` parameter from the query, or else a form or JSON body (Clever accepts all three)."""
    value = request.param(name)
    if value is not None or not request.body.strip():
        return value
    if "json" in request.headers.get("content-type", ""):
        try:
            body = json.loads(request.body)
        except ValueError:
            return None
        found = body.get(name) if isinstance(body, dict) else None
        return found if isinstance(found, str) else None
    values = parse_qs(request.body.decode("utf-8", "replace")).get(name)
    return values[-1] if values else None
