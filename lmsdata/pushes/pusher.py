"""The Python API a partner's backend calls to push assignments and grades through `lmsdata`,
so that every push is logged, classified when it fails, and can be retried safely later."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata.client import CleverClient
from lmsdata.db import bump_data_version, open_db, utcnow
from lmsdata.errors import TokenRevoked
from lmsdata.gradebook.guard import hold_reason
from lmsdata.pushes import log
from lmsdata.pushes.sender import PushOutcome, Sender, SendPolicy, fail_without_request
from lmsdata.pushes.taxonomy import Category

LIVE_LEASE_S = 600.0  # longer than any write can take with its automatic retries


class PushRefused(ValueError):
    """The push was not logged or sent because the request itself is wrong; the message says why."""


class GradePusher:
    """`create_assignment`, `update_assignment` and `push_grade`, each logged before it is sent.

    `clock` (an aware datetime) stamps the pushes and attempts: the demo uses it to build a past history.
    Keeps a cache connection per thread until `close()` (or use it as a context manager).
    """

    def __init__(
        self,
        client: CleverClient,
        db_path: str | Path,
        *,
        policy: SendPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] | None = None,
        source: str = "api",
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.db_path = db_path
        self.policy = policy or SendPolicy()
        self.sleep = sleep
        self.clock = clock
        self.source = source
        self.rng = rng or random.Random()
        self.owner = log.new_lease_owner()
        self._local = threading.local()
        self._opened: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()

    def _db(self) -> sqlite_utils.Database:
        """One cache connection per thread, kept open: closing the last one checkpoints the WAL each time."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_db(self.db_path)
            with self._lock:
                self._opened.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._opened:
                db.close()
            self._opened.clear()
        self._local = threading.local()

    def __enter__(self) -> GradePusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return log.iso(self.clock()) if self.clock else utcnow()

    def create_assignment(
        self, district_id: str, section_id: str, assignment_key: str, body: Mapping[str, Any]
    ) -> PushOutcome:
        """Create the assignment in the section's LMS gradebook and keep its Clever id.

        Refused when the key already has a live assignment: a second create would duplicate it.
        """
        existing = log.live_assignment_id(self._db(), district_id, section_id, assignment_key)
        if existing:
            raise PushRefused(
                f"assignment {assignment_key!r} already exists in section {section_id} as {existing}; "
                "use update_assignment to change it"
            )
        return self._push(log.NewPush(district_id, section_id, assignment_key, "assignment_create", _body(body)))

    def update_assignment(
        self, district_id: str, section_id: str, assignment_key: str, body: Mapping[str, Any]
    ) -> PushOutcome:
        return self._push(log.NewPush(district_id, section_id, assignment_key, "assignment_update", _body(body)))

    def push_grade(
        self, district_id: str, section_id: str, assignment_key: str, student_id: str, body: Mapping[str, Any]
    ) -> PushOutcome:
        """Write one student's submission (grade, comment, state) for the assignment."""
        if not student_id:
            raise PushRefused("push_grade needs the student's Clever user id")
        return self._push(
            log.NewPush(district_id, section_id, assignment_key, "submission_update", _body(body), student_id)
        )

    def _push(self, new: log.NewPush) -> PushOutcome:
        now = self._now()
        db = self._db()
        with db.atomic():
            push_id = log.insert_push(
                db,
                log.NewPush(**{**new.__dict__, "created_at": now}),
                source=self.source,
                lease_owner=self.owner,
                lease_until=log.lease_deadline(LIVE_LEASE_S),
            )
            log.supersede_older(db, log.same_key_ids(db, push_id))
            bump_data_version(db)
        push = log.get_push(db, push_id)
        assert push is not None
        held = hold_reason(db, push)
        if held is not None:  # a teacher's edit or a suspected duplicate: an operator decides first
            return fail_without_request(db, push, Category.HELD_FOR_OPERATOR, f"held: {held.reason}", self._now())
        try:
            dc = self.client.district(new.district_id)
        except TokenRevoked as exc:
            return fail_without_request(db, push, Category.TOKEN_REVOKED, exc.message or str(exc), self._now())
        return Sender(db, dc, policy=self.policy, sleep=self.sleep, now=self._now, rng=self.rng).send(
            push, trigger="first"
        )


def _body(body: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(body, Mapping) or not body:
        raise PushRefused("the body must be a non-empty JSON object (the fields Clever should write)")
    return dict(body)
