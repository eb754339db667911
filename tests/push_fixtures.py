"""A tiny sandbox on loopback HTTP, a synced cache and a real client, for the grade-passback tests."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmsdata.client import CleverClient, ClientOptions
from lmsdata.config import Settings
from lmsdata.db import connect
from lmsdata.pushes import GradePusher, SendPolicy
from lmsdata.sandbox import Sandbox, serve
from lmsdata.sync import sync

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret-push-tests"
DUE = "2031-01-15T23:59:00.000Z"
ASSIGNMENT = {"title": "Fractions Quiz", "description": "<p>All questions</p>", "due_date": DUE,
              "points_possible": 20, "grading_type": "points", "submission_types": ["link"]}  # fmt: skip


def _synced(obj: dict[str, Any]) -> bool | None:
    status = obj.get("lms_status")
    return None if status is None else bool(status.get("synced_in_lms"))


@dataclass
class Lab:
    sandbox: Sandbox
    url: str
    db_path: Path
    settings: Settings

    def client(self, **options: Any) -> CleverClient:
        sleep: Callable[[float], None] = options.pop("sleep", time.sleep)
        clock: Callable[[], float] = options.pop("clock", time.time)
        return CleverClient.from_settings(self.settings, sleep=sleep, clock=clock, options=ClientOptions(**options))

    def pusher(self, client: CleverClient, **kwargs: Any) -> GradePusher:
        kwargs.setdefault("policy", SendPolicy(auto_retries=2, backoff_base=0.01, backoff_cap=0.02))
        return GradePusher(client, self.db_path, **kwargs)

    def canvas_quiz(self, client: CleverClient) -> tuple[str, dict[str, Any], GradePusher]:
        """The ready Canvas district, a usable section of it, and a pusher that created 'quiz-1' there."""
        canvas = self.district("success", "canvas")
        section = self.synced_section(canvas)
        pusher = self.pusher(client)
        assert pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT).ok
        return canvas, section, pusher

    def sync(self, client: CleverClient) -> None:
        sync(client, self.db_path, full=True)

    def writes(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [w for w in self.sandbox.stats()["grade_writes"] if kind is None or w["kind"] == kind]

    # ---- facts about the tiny world ----------------------------------------------------------
    def district(self, lms_state: str = "success", lms_type: str | None = None) -> str:
        for did in self.sandbox.district_ids():
            d = self.sandbox.district(did)
            if d["lms_state"] == lms_state and (lms_type is None or d["lms_type"] == lms_type):
                return did
        raise LookupError(f"no {lms_state} {lms_type} district in the sandbox")

    def synced_section(self, district_id: str) -> dict[str, Any]:
        """A synced section with at least two matched and one unmatched student."""
        for section in self.sandbox.sections(district_id):
            if not _synced(section):
                continue
            students = [self.sandbox.user(s) for s in section["students"]]
            if sum(bool(_synced(u)) for u in students) >= 2 and any(_synced(u) is False for u in students):
                return section
        return next(s for s in self.sandbox.sections(district_id) if _synced(s) and s["students"])

    def unsynced_section(self, district_id: str) -> dict[str, Any]:
        return next(s for s in self.sandbox.sections(district_id) if _synced(s) is False and s["students"])

    def students(self, section: dict[str, Any], matched: bool = True, launched: bool | None = None) -> list[str]:
        found = []
        for sid in section["students"]:
            user = self.sandbox.user(sid)
            if bool(_synced(user)) != matched:
                continue
            if launched is not None and self.sandbox.has_launched(sid) != launched:
                continue
            found.append(sid)
        return found

    def outsider(self, district_id: str, section: dict[str, Any]) -> str:
        """A matched student of the district who is not in `section`."""
        for user in self.sandbox.users(district_id, role="student"):
            if _synced(user) and user["id"] not in section["students"]:
                return str(user["id"])
        raise LookupError("every matched student is in the section")

    def push_row(self, push_id: int) -> dict[str, Any]:
        with connect(self.db_path) as db:
            return next(db.query("SELECT * FROM pushes WHERE id = ?", [push_id]))


@contextlib.contextmanager
def running_lab(tmp_path: Path, *, rate_limit: int = 1200, clock: Callable[[], float] = time.time) -> Iterator[Lab]:
    """A tiny sandbox served on loopback and a cache fully synced from it (test modules wrap it in a fixture)."""
    sandbox = Sandbox(seed=7, scale="tiny", faults="none", rate_limit=rate_limit, client_id=CLIENT_ID,
                      client_secret=CLIENT_SECRET, clock=clock)  # fmt: skip
    server = serve(sandbox, host="127.0.0.1", port=0)
    db_path = tmp_path / "cache" / "lmsdata.db"
    settings = Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=server.url,
                        oauth_url=server.url, db_path=db_path)  # fmt: skip
    lab = Lab(sandbox, server.url, db_path, settings)
    try:
        with lab.client(clock=clock) as client:
            lab.sync(client)
        yield lab
    finally:
        server.close()


def transient_failures(lab: Lab, client: CleverClient) -> list[int]:
    """Every launched, matched student of both ready districts gets a grade that fails with a 503."""
    pusher = lab.pusher(client, policy=SendPolicy(auto_retries=0))
    targets = []
    for district in (lab.district("success", "canvas"), lab.district("success", "schoology")):
        for section in lab.sandbox.sections(district):
            if (section.get("lms_status") or {}).get("synced_in_lms"):
                assert pusher.create_assignment(district, section["id"], "quiz", ASSIGNMENT).ok
                targets += [(district, section["id"], s) for s in lab.students(section, launched=True)]
    lab.sandbox.inject("/submissions/", status=503, count=len(targets))
    ids = [pusher.push_grade(d, s, "quiz", u, {"grade_points": 11}).push_id for d, s, u in targets]
    assert all(lab.push_row(i)["state"] == "failed" and lab.push_row(i)["category"] == "transient" for i in ids)
    return ids


def writes_per_grade(lab: Lab) -> Counter[tuple[str, str]]:
    """How many times Clever was asked to write each (assignment, student) grade."""
    return Counter((w["assignment_id"], w["user_id"]) for w in lab.writes("submission.update"))
