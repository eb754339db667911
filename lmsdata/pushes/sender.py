"""Send one logged push to Clever, record every attempt, and retry transient failures with backoff.

Shared by the live pusher (a partner backend calling `GradePusher`) and the retry engine, so a
grade is sent, classified and logged the same way whichever path it takes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from lmsdata.client import DistrictClient, jittered_backoff
from lmsdata.db import utcnow
from lmsdata.errors import CleverError
from lmsdata.pushes import log
from lmsdata.pushes.situation import from_cache
from lmsdata.pushes.taxonomy import Category, classify


@dataclass(frozen=True)
class PushOutcome:
    """How one push ended. `data` is Clever's answer when it was sent."""

    push_id: int
    state: str                          # sent | failed | unknown | superseded
    category: Category | None = None
    status: int | None = None
    message: str | None = None
    assignment_id: str | None = None
    data: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "sent"

    @property
    def next_step(self) -> str | None:
        return self.category.next_step if self.category else None


@dataclass(frozen=True)
class SendPolicy:
    """Transient failures (5xx, timeouts of idempotent writes) are retried this many extra times."""

    auto_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        return jittered_backoff(retry, self.backoff_base, self.backoff_cap, rng)


class Sender:
    """Sends pushes for one district through its `DistrictClient`, logging into `db`."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        dc: DistrictClient,
        *,
        policy: SendPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], str] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.dc = dc
        self.policy = policy or SendPolicy()
        self.sleep = sleep
        self.now = now
        self.rng = rng or random.Random()

    def send(self, push: Mapping[str, Any], *, trigger: str) -> PushOutcome:
        """Send `push` (a `pushes` row) until it is sent, fails for a lasting reason, or retries run out."""
        missing = self._missing_assignment(push)
        if missing is not None:
            return fail_without_request(
                self.db, push, missing, "the assignment has no Clever id", self.now(), trigger=trigger
            )
        retry = 0
        while True:
            attempt_id = log.start_attempt(self.db, push["id"], trigger=trigger, started_at=self.now())
            started = time.perf_counter()
            try:
                data = self._call(push)
            except CleverError as exc:
                duration = (time.perf_counter() - started) * 1000
                category = classify(
                    exc.status, exc.message, from_cache(self.db, push), outcome_unknown=exc.outcome_unknown
                )
                if category is Category.ASSIGNMENT_DELETED:
                    log.mark_assignment_deleted(
                        self.db, push["district_id"], push["section_id"], push["assignment_key"]
                    )
                result = log.AttemptResult(
                    "unknown" if category is Category.OUTCOME_UNKNOWN else "failed",
                    exc.status, exc.message or str(exc), duration, category,
                )  # fmt: skip
                if category is Category.TRANSIENT and retry < self.policy.auto_retries:
                    log.finish_attempt(self.db, push["id"], attempt_id, result, push_state=None, at=self.now())
                    self.sleep(self.policy.backoff(retry, self.rng))
                    retry, trigger = retry + 1, "auto"
                    continue
                state = "unknown" if category is Category.OUTCOME_UNKNOWN else "failed"
                log.finish_attempt(self.db, push["id"], attempt_id, result, push_state=state, at=self.now())
                return PushOutcome(push["id"], state, category, exc.status, result.message)
            duration = (time.perf_counter() - started) * 1000
            assignment_id = self._remember(push, data)
            log.finish_attempt(
                self.db, push["id"], attempt_id, log.AttemptResult("sent", 200, None, duration),
                push_state="sent", at=self.now(),
            )  # fmt: skip
            return PushOutcome(push["id"], "sent", status=200, assignment_id=assignment_id, data=data)

    def _missing_assignment(self, push: Mapping[str, Any]) -> Category | None:
        if push["kind"] == "assignment_create" or self._assignment_id(push):
            return None
        row = log.assignment_row(self.db, push["district_id"], push["section_id"], push["assignment_key"])
        return Category.ASSIGNMENT_DELETED if row and row["deleted_at"] else Category.ASSIGNMENT_NOT_CREATED

    def _assignment_id(self, push: Mapping[str, Any]) -> str | None:
        return log.live_assignment_id(self.db, push["district_id"], push["section_id"], push["assignment_key"])

    def _call(self, push: Mapping[str, Any]) -> dict[str, Any]:
        body = json.loads(push["payload"])
        section = push["section_id"]
        if push["kind"] == "assignment_create":
            return self.dc.create_assignment(section, body)
        assignment_id = self._assignment_id(push) or ""
        if push["kind"] == "assignment_update":
            return self.dc.update_assignment(section, assignment_id, body)
        return self.dc.update_submission(section, assignment_id, push["student_id"], body)

    def _remember(self, push: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
        """Store the id of a created assignment at once: Clever cannot list it later."""
        if push["kind"] != "assignment_create":
            return self._assignment_id(push)
        assignment_id = str(data.get("id") or "")
        if assignment_id:
            title = json.loads(push["payload"]).get("title")
            log.store_assignment_id(
                self.db, push["district_id"], push["section_id"], push["assignment_key"], assignment_id,
                title=title if isinstance(title, str) else None,
            )  # fmt: skip
        return assignment_id or None


def fail_without_request(
    db: sqlite_utils.Database,
    push: Mapping[str, Any],
    category: Category,
    message: str,
    at: str,
    *,
    trigger: str = "first",
) -> PushOutcome:
    """The push cannot be sent at all (no token, no assignment id): a failed attempt with no status."""
    attempt_id = log.start_attempt(db, push["id"], trigger=trigger, started_at=at)
    result = log.AttemptResult("failed", None, message, 0.0, category)
    log.finish_attempt(db, push["id"], attempt_id, result, push_state="failed", at=at)
    return PushOutcome(push["id"], "failed", category, None, message)
