"""`Sandbox`: a local Clever v3.1 (OAuth, Data API, Events, LMS Connect) plus its control plane."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from lmsdata.sandbox.app import SandboxApp, token_label
from lmsdata.sandbox.control import ControlPlane
from lmsdata.sandbox.data import plan_districts, unwrap
from lmsdata.sandbox.data_api import DataApi
from lmsdata.sandbox.faults import Faults, Injection
from lmsdata.sandbox.ids import Kind
from lmsdata.sandbox.lms import Gradebook
from lmsdata.sandbox.ratelimit import RateLimiter
from lmsdata.sandbox.server import Server
from lmsdata.sandbox.world import World

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"


class Sandbox:
    """Everything is deterministic from `seed` (times are relative to construction)."""

    def __init__(
        self,
        seed: int = 7,
        scale: str = "demo",
        faults: str = "none",
        rate_limit: int = 1200,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        clock: Callable[[], float] = time.time,
        *,
        slow_s: float = 2.0,
        storm_requests: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        cache_weight: int = 400_000,
    ) -> None:
        self.seed, self.scale, self.client_id, self.client_secret = seed, scale, client_id, client_secret
        self.clock = clock
        self.world = World(seed, plan_districts(seed, scale), clock, cache_weight)
        self.gradebook = Gradebook(self.world, clock)
        self.faults = Faults(faults, seed, clock, slow_s, storm_requests)
        self.limiter = RateLimiter(rate_limit, clock)
        self.app = SandboxApp(self.world, self.gradebook, DataApi(self.world, client_id, client_secret),
                              self.limiter, self.faults, ControlPlane(self), sleep)
        self.revoked_mid_run: str | None = None
        if faults == "hostile":
            rng = random.Random(f"revoke:{seed}")
            index = rng.randrange(len(self.world.plans))
            self.revoked_mid_run = self.world.district_id(index)
            self.app.revoke_plan = (self.world.tokens[index], rng.randint(15, 40))

    # ---- identity -----------------------------------------------------------------------------
    def district_ids(self) -> list[str]:
        return [self.world.district_id(i) for i in range(len(self.world.plans))]

    def token_for(self, district_id: str) -> str:
        return self.world.tokens[self.world.index_of(district_id)]

    # ---- in-process reads (for tests; the same objects the API serves) ---------------------------
    def district(self, district_id: str) -> dict[str, Any]:
        return self.world.district(self.world.index_of(district_id))

    def _objects(self, district_id: str, name: str, role: str | None = None) -> list[dict[str, Any]]:
        view = self.world.collection(self.world.index_of(district_id), name, role)
        return [json.loads(unwrap(blob)) for blob in view.blobs]

    def users(self, district_id: str, role: str | None = None) -> list[dict[str, Any]]:
        return self._objects(district_id, "users", role)

    def sections(self, district_id: str) -> list[dict[str, Any]]:
        return self._objects(district_id, "sections")

    def schools(self, district_id: str) -> list[dict[str, Any]]:
        return self._objects(district_id, "schools")

    def terms(self, district_id: str) -> list[dict[str, Any]]:
        return self._objects(district_id, "terms")

    def courses(self, district_id: str) -> list[dict[str, Any]]:
        return self._objects(district_id, "courses")

    def resources(self, district_id: str) -> list[dict[str, Any]]:
        return self._objects(district_id, "resources")

    def events(self, district_id: str) -> list[dict[str, Any]]:
        return self.world.events(self.world.index_of(district_id))

    def user(self, user_id: str) -> dict[str, Any]:
        return self.world.require(user_id, Kind.USER)[1]

    def section(self, section_id: str) -> dict[str, Any]:
        return self.world.require(section_id, Kind.SECTION)[1]

    def has_launched(self, user_id: str) -> bool:
        """False for a Schoology student who never opened the app's LTI link (writes give 500)."""
        index, _ = self.world.require(user_id, Kind.USER)
        return self.world.has_launched(index, user_id)

    def assignment(self, assignment_id: str) -> dict[str, Any] | None:
        """The stored assignment (None if unknown or deleted)."""
        record = self.gradebook.assignments.get(assignment_id)
        return None if record is None or record.deleted else dict(record.data)

    def submission(self, section_id: str, assignment_id: str, user_id: str) -> dict[str, Any] | None:
        """The submission as last written (None if never written)."""
        record = self.gradebook.assignments.get(assignment_id)
        if record is None or record.section_id != section_id:
            return None
        stored = self.gradebook.submissions.get((assignment_id, user_id))
        return None if stored is None else dict(stored)

    # ---- control plane (also under /__sandbox/) -------------------------------------------------
    def set_lms_state(self, district_id: str, lms_state: str | None, lms_type: str | None = None) -> None:
        self.world.set_lms_state(district_id, lms_state, lms_type)

    def set_last_lms_sync(self, district_id: str, at: str | None) -> None:
        self.world.set_last_lms_sync(district_id, at)

    def set_user_matched(self, user_id: str, matched: bool) -> None:
        self.world.set_user_matched(user_id, matched)

    def set_section_synced(self, section_id: str, synced: bool) -> None:
        self.world.set_section_synced(section_id, synced)

    def mark_launched(self, user_id: str) -> None:
        self.world.mark_launched(user_id)

    def revoke_token(self, district_id: str) -> None:
        self.world.revoke_token(district_id)

    def restore_token(self, district_id: str) -> None:
        self.world.restore_token(district_id)

    def add_user(self, district_id: str, role: str = "student", section_ids: Iterable[str] = ()) -> dict[str, Any]:
        return self.world.add_user(district_id, role, tuple(section_ids))

    def remove_user(self, user_id: str) -> None:
        self.world.remove_user(user_id)

    def delete_assignment_in_lms(self, assignment_id: str) -> None:
        self.gradebook.delete_in_lms(assignment_id)

    def inject(self, path_contains: str, *, status: int | None = None, delay_s: float | None = None,
               drop: bool = False, body: Any = None, count: int = 1, method: str | None = None,
               after_handling: bool = False) -> None:
        """Make the next `count` requests whose path contains `path_contains` misbehave.

        `status` replies with that status (and `body`: dict, JSON or HTML text; 429 is empty);
        `delay_s` stalls first; `drop` closes the connection with no reply. With
        `after_handling=True` the request takes effect first and only its reply is delayed or
        dropped: the "outcome unknown" case of a write that timed out.
        """
        if status is None and delay_s is None and not drop:
            raise ValueError("inject needs status, delay_s or drop")
        if after_handling and status is not None:
            raise ValueError("after_handling delays or drops the real reply; it cannot replace its status")
        self.faults.inject(Injection(path_contains, method.upper() if method else None, status,
                                     delay_s, drop, body, count, after_handling))

    def stats(self) -> dict[str, Any]:
        stats = self.app.stats
        with stats.lock:
            return {
                "requests_by_route": dict(stats.by_route),
                "requests_by_token": dict(stats.by_token),
                "requests_by_district": dict(stats.by_district),
                "rate_limited": stats.rate_limited,
                "faults": dict(stats.faults),
                "grade_writes": [dict(w) for w in self.gradebook.grade_writes],
                "districts_generated": self.world.generated,
            }

    def token_label(self, district_id: str) -> str:
        """The key `stats()["requests_by_token"]` uses for this district's token."""
        return token_label(self.token_for(district_id))


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve `sandbox.app` on a background thread; port 0 picks a free port (see `server.url`)."""
    return Server(sandbox.app, host, port)
