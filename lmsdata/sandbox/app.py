"""The WSGI app: routing, auth, rate limit, faults and stats around the Clever handlers."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lmsdata.sandbox.attendance import AttendanceApi
from lmsdata.sandbox.control import ControlPlane
from lmsdata.sandbox.data_api import DataApi
from lmsdata.sandbox.faults import HTML_ERROR, DropConnection, Fault, Faults, spoil
from lmsdata.sandbox.http import Request, Response, empty, message
from lmsdata.sandbox.lms import Gradebook, Invalid
from lmsdata.sandbox.ratelimit import RateLimiter
from lmsdata.sandbox.related import RelatedApi
from lmsdata.sandbox.world import World

Handler = Callable[..., Response]
_SEG = "([^/]+)"
_ENUMS = {"count": ("", "true", "false", "undefined"), "primary": ("", "true")}  # the spec's enums, every route
_MULTI_PARAMS = {"record_type"}  # the only query parameter the spec declares as repeatable (collectionFormat multi)


@dataclass
class Route:
    name: str  # the path template, e.g. /v3.1/users/{id}
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    bearer: bool = True


@dataclass
class Stats:
    by_route: Counter[str] = field(default_factory=Counter)
    by_token: Counter[str] = field(default_factory=Counter)
    by_district: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def token_label(token: str) -> str:
    """How stats name a credential: enough to tell tokens apart, useless to an attacker."""
    if token == "anonymous" or token.startswith("client:"):
        return token
    return f"...{token[-4:]}" if len(token) > 8 else "..."


class SandboxApp:
    def __init__(self, world: World, gradebook: Gradebook, data_api: DataApi, limiter: RateLimiter,
                 faults: Faults, control: ControlPlane, sleep: Callable[[float], None]) -> None:
        self.world, self.gradebook, self.data_api = world, gradebook, data_api
        self.limiter, self.faults, self.control, self.sleep = limiter, faults, control, sleep
        self.stats = Stats()
        self.revoke_plan: tuple[str, int] | None = None  # hostile: (token, request number)
        lms = gradebook
        attendance = AttendanceApi(world)
        assignment = "/v3.1/sections/{section_id}/assignments"
        self.routes = [
            self._route("/oauth/tokens", {"GET": data_api.tokens}, bearer=False),
            self._route("/v3.1/districts", {"GET": data_api.districts}),
            self._route("/v3.1/districts/{id}", {"GET": data_api.district}),
            self._route("/v3.1/schools", {"GET": data_api.listing("schools")}),
            self._route("/v3.1/schools/{id}", {"GET": data_api.single("schools")}),
            self._route("/v3.1/terms", {"GET": data_api.listing("terms")}),
            self._route("/v3.1/terms/{id}", {"GET": data_api.single("terms")}),
            self._route("/v3.1/sections", {"GET": data_api.listing("sections")}),
            self._route("/v3.1/sections/{id}", {"GET": data_api.single("sections")}),
            self._route("/v3.1/sections/{id}/users", {"GET": data_api.section_users}),
            self._route("/v3.1/users", {"GET": data_api.listing("users")}),
            self._route("/v3.1/users/{id}", {"GET": data_api.single("users")}),
            self._route("/v3.1/courses", {"GET": data_api.listing("courses")}),
            self._route("/v3.1/courses/{id}", {"GET": data_api.single("courses")}),
            self._route("/v3.1/resources", {"GET": data_api.listing("resources")}),
            self._route("/v3.1/resources/{id}", {"GET": data_api.single("resources")}),
            self._route("/v3.1/attendance/schools/{id}", {"GET": attendance.for_school}),
            self._route("/v3.1/attendance/sections/{id}", {"GET": attendance.for_section}),
            *self._related_routes(RelatedApi(world)),
            self._route("/v3.1/events", {"GET": data_api.events}),
            self._route("/v3.1/events/{id}", {"GET": data_api.event}),
            self._route(assignment, {"POST": lms.create_assignment}),
            self._route(assignment + "/{assignment_id}", {
                "GET": lms.get_assignment, "PATCH": lms.update_assignment, "DELETE": lms.delete_assignment}),
            self._route(assignment + "/{assignment_id}/submissions", {"GET": lms.list_submissions}),
            self._route(assignment + "/{assignment_id}/submissions/{user_id}", {
                "GET": lms.get_submission, "PATCH": lms.update_submission}),
        ]

    def _related_routes(self, rel: RelatedApi) -> list[Route]:
        """The related lists and objects the spec documents as 200 (related.py)."""
        district = lambda obj: obj.get("district")  # noqa: E731 - one-line pickers
        lists = {
            "/v3.1/schools/{id}/sections": rel.list_of("schools", "sections", rel.sections_of_school),
            "/v3.1/schools/{id}/terms": rel.list_of("schools", "terms", rel.terms_of_school),
            "/v3.1/schools/{id}/users": rel.list_of("schools", "users", rel.users_of_school),
            "/v3.1/schools/{id}/courses": rel.list_of("schools", "courses", rel.courses_of_school),
            "/v3.1/schools/{id}/district": rel.one_of("schools", "districts", district),
            "/v3.1/sections/{id}/district": rel.one_of("sections", "districts", district),
            "/v3.1/sections/{id}/school": rel.one_of("sections", "schools", lambda obj: obj.get("school")),
            "/v3.1/sections/{id}/term": rel.one_of("sections", "terms", lambda obj: obj.get("term_id")),
            "/v3.1/sections/{id}/course": rel.one_of("sections", "courses", lambda obj: obj.get("course")),
            "/v3.1/sections/{id}/resources": rel.list_of("sections", "resources", rel.resources_of_section),
            "/v3.1/terms/{id}/district": rel.one_of("terms", "districts", district),
            "/v3.1/terms/{id}/schools": rel.list_of("terms", "schools", rel.schools_of_term),
            "/v3.1/terms/{id}/sections": rel.list_of("terms", "sections", rel.sections_of_term),
            "/v3.1/users/{id}/district": rel.one_of("users", "districts", lambda obj: obj.get("district")),
            "/v3.1/users/{id}/schools": rel.list_of("users", "schools", rel.schools_of_user),
            "/v3.1/users/{id}/sections": rel.list_of("users", "sections", rel.sections_of_user),
            "/v3.1/users/{id}/mystudents": rel.list_of("users", "users", rel.classmates("student")),
            "/v3.1/users/{id}/myteachers": rel.list_of("users", "users", rel.classmates("teacher")),
            "/v3.1/users/{id}/mycontacts": rel.list_of("users", "users", rel.contacts_of_user),
            "/v3.1/users/{id}/resources": rel.list_of("users", "resources", rel.resources_of_user),
            "/v3.1/courses/{id}/district": rel.one_of("courses", "districts", district),
            "/v3.1/courses/{id}/resources": rel.list_of("courses", "resources", rel.resources_of_course),
            "/v3.1/courses/{id}/schools": rel.list_of("courses", "schools", rel.schools_of_course),
            "/v3.1/courses/{id}/sections": rel.list_of("courses", "sections", rel.sections_of_course),
            "/v3.1/resources/{id}/courses": rel.list_of("resources", "courses", rel.courses_of_resource),
            "/v3.1/resources/{id}/sections": rel.list_of("resources", "sections", rel.sections_of_resource),
            "/v3.1/resources/{id}/users": rel.list_of("resources", "users", rel.users_of_resource),
        }
        return [self._route(template, {"GET": handler}) for template, handler in lists.items()]

    @staticmethod
    def _route(template: str, methods: dict[str, Handler], bearer: bool = True) -> Route:
        pattern = re.compile("^" + re.sub(r"\{[a-z_]+\}", _SEG, template) + "/?$")
        return Route(template, pattern, methods, bearer)

    # ---- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        control = request.path.startswith("/__sandbox/")
        response = self.control.handle(request) if control else self.clever(request)
        start_response(response.status_line, response.header_list())
        return [response.body]

    def _match(self, path: str) -> tuple[Route, tuple[str, ...]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                return route, found.groups()
        return None

    def _credential(self, request: Request, route: Route | None) -> str:
        header = request.headers.get("authorization", "")
        if route is not None and not route.bearer:
            client = self.data_api.basic_client(request)
            return f"client:{client}" if client else "anonymous"
        if header[:7].lower() == "bearer ":
            return header[7:].strip()
        return "anonymous"

    def clever(self, request: Request) -> Response:
        matched = self._match(request.path)
        route, params = matched if matched else (None, ())
        key = self._credential(request, route)
        index = self.world.index_for_token(key)
        with self.stats.lock:
            self.stats.by_route[f"{request.method} {route.name if route else '<unknown>'}"] += 1
            self.stats.by_token[token_label(key)] += 1
            if index is not None:
                self.stats.by_district[self.world.district_id(index)] += 1
        allowed, rate_headers = self.limiter.hit(key)
        if not allowed:
            with self.stats.lock:
                self.stats.rate_limited += 1
            return self._with(empty(429), rate_headers)
        response = self._faulted(request, key, lambda: self._dispatch(request, route, params))
        return self._with(response, rate_headers)

    @staticmethod
    def _with(response: Response, headers: list[tuple[str, str]]) -> Response:
        """Add the rate-limit headers a fault has not already set."""
        present = {name.lower() for name, _ in response.headers}
        response.headers = [*response.headers, *((n, v) for n, v in headers if n.lower() not in present)]
        return response

    def _faulted(self, request: Request, key: str, respond: Callable[[], Response]) -> Response:
        injection = self.faults.take_injection(request.method, request.path)
        if injection is not None:
            handled = respond() if injection.after_handling else None
            if injection.delay_s:
                self.sleep(injection.delay_s)
            if injection.drop:
                raise DropConnection("injected drop")
            if handled is not None:
                return handled
            if injection.status is not None:
                if injection.status == 429:
                    with self.stats.lock:
                        self.stats.rate_limited += 1
                return injection.response()
            return respond()
        number, fault = self.faults.draw(key)
        if self.revoke_plan and key == self.revoke_plan[0] and number == self.revoke_plan[1]:
            self.world.revoke_token(self.world.district_id(self.world.tokens.index(key)))
            with self.stats.lock:
                self.stats.faults["revoked"] += 1
        if fault is None:
            return respond()
        with self.stats.lock:
            self.stats.faults[fault.kind] += 1
        return self._apply_fault(request, key, fault, respond)

    def _apply_fault(self, request: Request, key: str, fault: Fault, respond: Callable[[], Response]) -> Response:
        if fault.kind == "error":
            return message(fault.status, "Service Unavailable" if fault.status == 503 else "Bad Gateway")
        if fault.kind == "html":
            return Response(fault.status, HTML_ERROR, "text/html; charset=utf-8")
        if fault.kind == "storm":
            with self.stats.lock:
                self.stats.rate_limited += 1
            return Response(429, b"", None, [("X-RateLimit-Limit", str(self.limiter.limit)),
                                              ("X-RateLimit-Remaining", "0"),
                                              ("X-RateLimit-Reset", str(self.faults.storm_reset(key)))])
        if fault.kind == "drop":
            raise DropConnection("fault: connection dropped before the request was handled")
        if fault.kind == "slow":
            self.sleep(self.faults.slow_s)
            return respond()
        response = respond()  # the request takes effect; only the reply is lost or spoiled
        if fault.kind == "drop_after":
            raise DropConnection("fault: connection dropped after the request was handled")
        return spoil(response, fault) if request.method == "GET" else response

    def _dispatch(self, request: Request, route: Route | None, params: tuple[str, ...]) -> Response:
        index = None
        if route is None or route.bearer:
            header = request.headers.get("authorization", "")
            if not header.strip():
                return message(401, "No authorization provided")
            index = self.world.index_for_token(header[7:].strip()) if header[:7].lower() == "bearer " else None
            if index is None:
                return message(403, "Could not authorize token")
        if route is None:
            return message(404, "Resource not found")
        handler = route.methods.get(request.method)
        repeated = next((k for k, v in request.query.items() if len(v) > 1 and k not in _MULTI_PARAMS), None)
        if handler is not None and repeated is not None:
            return message(400, f"{repeated} in query should be given once")
        bad = next((name for name, allowed in _ENUMS.items() if request.param(name) not in (None, *allowed)), None)
        if handler is not None and bad is not None:
            return message(400, f"{bad} in query should be one of {list(_ENUMS[bad])}")
        if handler is None:
            allow = ", ".join(sorted(route.methods))
            return Response(405, b'{"message":"Method Not Allowed"}', headers=[("Allow", allow)])
        try:
            return handler(request, *params) if index is None else handler(request, index, *params)
        except Invalid as exc:
            return exc.response
