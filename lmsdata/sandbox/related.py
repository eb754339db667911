"""Data API related lists (`/users/{id}/sections`, `/sections/{id}/school`, ...) from the caller's district.

Each is derived from the objects' own references (a section's school, term, course and members, a
user's schools), so it always agrees with the top-level lists. A resource belongs to the courses that
carry it (`data.resource_of_course`), and so to their sections and to those sections' members in the
resource's `roles`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lmsdata.sandbox import paging
from lmsdata.sandbox.data import RESOURCES, Collection, resource_of_course
from lmsdata.sandbox.http import Request, Response, json_response, message
from lmsdata.sandbox.world import World, role_of

NOT_FOUND = "Resource not found"
_ROLE_PARAM = {("schools", "users"): ("staff", "student", "teacher"), ("resources", "users"): ("student", "teacher")}
Keep = Callable[[dict[str, Any]], bool]
Relation = Callable[[int, dict[str, Any], Request], Keep]


def _schools_of_user(user: dict[str, Any], primary_only: bool = False) -> set[str]:
    """A user's schools in any role (`primary=true`: only each role's primary school)."""
    found: set[str] = set()
    for role in (user.get("roles") or {}).values():
        if not primary_only:
            found.update(role.get("schools") or [])
        if role.get("school"):
            found.add(role["school"])
    return found


def _members(section: dict[str, Any]) -> set[str]:
    return set(section.get("students") or []) | set(section.get("teachers") or [])


class RelatedApi:
    def __init__(self, world: World) -> None:
        self.world = world
        self.lookups = {"users": world.user, "sections": world.section, "schools": world.school, "terms": world.term,
                        "courses": world.course, "resources": world.resource}

    def _owned(self, index: int, name: str, object_id: str) -> dict[str, Any] | None:
        found = self.lookups[name](object_id)
        return found[1] if found is not None and found[0] == index else None

    def _page(self, request: Request, index: int, name: str, keep: Keep, role: str | None = None) -> Response:
        limit = paging.parse_limit(request)
        if isinstance(limit, Response):
            return limit
        source, items = self.world.collection(index, name, role), Collection()
        for object_id, blob in zip(source.ids, source.blobs, strict=True):
            if keep(json.loads(blob)["data"]):
                items.ids.append(object_id)
                items.blobs.append(blob)
        return paging.page(request, items, limit)

    def list_of(self, owner: str, name: str, relation: Relation) -> Any:
        """A handler for `/{owner}/{id}/{name}`: 404 unless the owner is the caller's, then a page."""
        def handler(request: Request, index: int, object_id: str) -> Response:
            obj = self._owned(index, owner, object_id)
            if obj is None:
                return message(404, NOT_FOUND)
            role = None
            roles = _ROLE_PARAM.get((owner, name))
            if roles is not None:
                role = request.param("role")
                if role not in (None, *roles):
                    return message(400, f"role in query should be one of [{' '.join(roles)}]")
            return self._page(request, index, name, relation(index, obj, request), role)
        return handler

    def one_of(self, owner: str, name: str, pick: Callable[[dict[str, Any]], str | None]) -> Any:
        """A handler for `/{owner}/{id}/{one}`: the single related object, or 404."""
        def handler(request: Request, index: int, object_id: str) -> Response:
            obj = self._owned(index, owner, object_id)
            target = pick(obj) if obj is not None else None
            found = self.world.district(index) if name == "districts" and target else (
                self._owned(index, name, target) if target else None)
            if found is None:
                return message(404, NOT_FOUND)
            return json_response(200, {"data": found, "links": [{"rel": "self", "uri": request.path}]})
        return handler

    # ---- relations: (caller's district, owner object) -> which items of the list belong ---------
    def sections_of_school(self, index: int, school: dict[str, Any], request: Request) -> Keep:
        return lambda section: section.get("school") == school["id"]

    def terms_of_school(self, index: int, school: dict[str, Any], request: Request) -> Keep:
        terms = {s.get("term_id") for s in self._all(index, "sections") if s.get("school") == school["id"]}
        return lambda term: term["id"] in terms

    def users_of_school(self, index: int, school: dict[str, Any], request: Request) -> Keep:
        primary = request.param("primary") == "true"
        return lambda user: school["id"] in _schools_of_user(user, primary)

    def schools_of_term(self, index: int, term: dict[str, Any], request: Request) -> Keep:
        schools = {s.get("school") for s in self._all(index, "sections") if s.get("term_id") == term["id"]}
        return lambda school: school["id"] in schools

    def sections_of_term(self, index: int, term: dict[str, Any], request: Request) -> Keep:
        return lambda section: section.get("term_id") == term["id"]

    def schools_of_user(self, index: int, user: dict[str, Any], request: Request) -> Keep:
        schools = _schools_of_user(user, request.param("primary") == "true")
        return lambda school: school["id"] in schools

    def sections_of_user(self, index: int, user: dict[str, Any], request: Request) -> Keep:
        return lambda section: user["id"] in _members(section)

    def classmates(self, wanted_role: str) -> Relation:
        """`mystudents` / `myteachers`: users of that role who share a section with the user."""
        def relation(index: int, user: dict[str, Any], request: Request) -> Keep:
            shared: set[str] = set()
            for section in self._all(index, "sections"):
                if user["id"] in _members(section):
                    shared |= _members(section)
            shared.discard(user["id"])
            return lambda other: other["id"] in shared and role_of(other) == wanted_role
        return relation

    def contacts_of_user(self, index: int, user: dict[str, Any], request: Request) -> Keep:
        """A student's contacts: contacts whose relationships name the student."""
        return lambda other: role_of(other) == "contact" and user["id"] in json.dumps(other["roles"])

    # ---- courses and resources ------------------------------------------------------------------
    def courses_of_school(self, index: int, school: dict[str, Any], request: Request) -> Keep:
        courses = {s.get("course") for s in self._all(index, "sections") if s.get("school") == school["id"]}
        return lambda course: course["id"] in courses

    def sections_of_course(self, index: int, course: dict[str, Any], request: Request) -> Keep:
        return lambda section: section.get("course") == course["id"]

    def schools_of_course(self, index: int, course: dict[str, Any], request: Request) -> Keep:
        schools = {s.get("school") for s in self._all(index, "sections") if s.get("course") == course["id"]}
        return lambda school: school["id"] in schools

    def resources_of_course(self, index: int, course: dict[str, Any], request: Request) -> Keep:
        return lambda resource: _resource_number(resource["id"]) == resource_of_course(_seq(course["id"]))

    def courses_of_resource(self, index: int, resource: dict[str, Any], request: Request) -> Keep:
        return lambda course: resource_of_course(_seq(course["id"])) == _resource_number(resource["id"])

    def sections_of_resource(self, index: int, resource: dict[str, Any], request: Request) -> Keep:
        number = _resource_number(resource["id"])
        return lambda section: bool(section.get("course")) and resource_of_course(_seq(section["course"])) == number

    def users_of_resource(self, index: int, resource: dict[str, Any], request: Request) -> Keep:
        """Members of the resource's sections whose role the resource is for."""
        in_sections = self.sections_of_resource(index, resource, request)
        members: set[str] = set()
        for section in self._all(index, "sections"):
            if in_sections(section):
                members |= _members(section)
        roles = set(resource.get("roles") or ())
        return lambda user: user["id"] in members and role_of(user) in roles

    def resources_of_section(self, index: int, section: dict[str, Any], request: Request) -> Keep:
        number = resource_of_course(_seq(section["course"])) if section.get("course") else None
        return lambda resource: _resource_number(resource["id"]) == number

    def resources_of_user(self, index: int, user: dict[str, Any], request: Request) -> Keep:
        numbers = {resource_of_course(_seq(s["course"])) for s in self._all(index, "sections")
                   if s.get("course") and user["id"] in _members(s)}
        role = role_of(user)
        return lambda resource: _resource_number(resource["id"]) in numbers and role in (resource.get("roles") or ())

    def _all(self, index: int, name: str) -> list[dict[str, Any]]:
        return [json.loads(blob)["data"] for blob in self.world.collection(index, name).blobs]


def _seq(object_id: str) -> int:
    """The sequence part of a sandbox ObjectID (a course's place in COURSE_NAMES, a resource's in RESOURCES)."""
    return int(object_id[16:], 16)


def _resource_number(resource_id: str) -> int:
    number = _seq(resource_id)
    assert number < len(RESOURCES), resource_id
    return number
