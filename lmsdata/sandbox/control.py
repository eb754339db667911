"""`/__sandbox/…`: the Python control methods over HTTP (real Clever has nothing like it).

Tests and the CLI's users drive the sandbox through these; library code must never call them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmsdata.sandbox.http import Request, Response, json_response
from lmsdata.sandbox.world import UnknownObject

if TYPE_CHECKING:
    from lmsdata.sandbox.core import Sandbox

Action = Callable[["Sandbox", dict[str, Any], str], Any]

_ROUTES: list[tuple[str, str, Action]] = [
    ("GET", "stats", lambda sb, body, _: sb.stats()),
    ("GET", "districts", lambda sb, body, _: [sb.world.summary(i) for i in range(len(sb.district_ids()))]),
    ("POST", "districts/{id}/lms_state",
     lambda sb, body, did: sb.set_lms_state(did, body.get("lms_state"), body.get("lms_type"))),
    ("POST", "districts/{id}/last_lms_sync", lambda sb, body, did: sb.set_last_lms_sync(did, body["at"])),
    ("POST", "districts/{id}/revoke_token", lambda sb, body, did: sb.revoke_token(did)),
    ("POST", "districts/{id}/restore_token", lambda sb, body, did: sb.restore_token(did)),
    ("POST", "districts/{id}/users", lambda sb, body, did: sb.add_user(
        did, role=body.get("role", "student"), section_ids=tuple(body.get("section_ids", ())))),
    ("DELETE", "users/{id}", lambda sb, body, uid: sb.remove_user(uid)),
    ("POST", "users/{id}/matched", lambda sb, body, uid: sb.set_user_matched(uid, bool(body["matched"]))),
    ("POST", "users/{id}/launched", lambda sb, body, uid: sb.mark_launched(uid)),
    ("POST", "sections/{id}/synced", lambda sb, body, sid: sb.set_section_synced(sid, bool(body["synced"]))),
    ("POST", "assignments/{id}/delete_in_lms", lambda sb, body, aid: sb.delete_assignment_in_lms(aid)),
    ("POST", "assignments/{id}/teacher_edit", lambda sb, body, aid: sb.gradebook.teacher_edit(
        aid, body["user_id"], body.get("grade"), body.get("grade_points"), body["grader_id"],
        float(body.get("minutes_later", 5)))),
    ("POST", "inject", lambda sb, body, _: sb.inject(
        body["path_contains"], status=body.get("status"), delay_s=body.get("delay_s"),
        drop=bool(body.get("drop")), body=body.get("body"), count=int(body.get("count", 1)),
        method=body.get("method"), after_handling=bool(body.get("after_handling")))),
]
_COMPILED = [(method, re.compile("^/__sandbox/" + path.replace("{id}", "([^/]+)") + "/?$"), action)
             for method, path, action in _ROUTES]


class ControlPlane:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle(self, request: Request) -> Response:
        known_path = False
        for method, pattern, action in _COMPILED:
            found = pattern.match(request.path)
            if not found:
                continue
            known_path = True
            if method != request.method:
                continue
            try:
                body = json.loads(request.body) if request.body.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                result = action(self.sandbox, body, found.group(1) if found.groups() else "")
            except UnknownObject as exc:
                return json_response(404, {"error": str(exc)})
            except (ValueError, KeyError, TypeError) as exc:
                return json_response(400, {"error": f"bad request: {exc}"})
            return json_response(200, {"ok": True, "result": result})
        if known_path:
            return json_response(405, {"error": "method not allowed"})
        return json_response(404, {"error": f"no control route {request.path}"})
