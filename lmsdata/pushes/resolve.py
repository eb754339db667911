"""Settle an assignment create whose outcome is unknown, with the operator's evidence from the LMS.

Clever cannot list assignments, so after a create timed out only a person looking at the section's
gradebook can say whether it exists. Until they do, a retry never sends the create again.
"""

from __future__ import annotations

from pathlib import Path

from lmsdata import audit
from lmsdata.db import bump_data_version, connect
from lmsdata.pushes import log
from lmsdata.pushes.taxonomy import Category


class ResolveError(ValueError):
    """The push cannot be resolved this way; the message says why."""


def resolve_unknown(
    db_path: str | Path, push_id: int, *, assignment_id: str | None = None, actor: str = "system"
) -> str:
    """With `assignment_id`: the create worked, keep the id. Without: it did not, make it retryable."""
    with connect(db_path) as db, db.atomic():
        push = log.get_push(db, push_id)
        if push is None:
            raise ResolveError(f"there is no push #{push_id} in the log")
        if push["kind"] != "assignment_create" or push["state"] != "unknown":
            raise ResolveError(
                f"push #{push_id} is a {push['kind']} in state {push['state']}; only an assignment create "
                "with an unknown outcome needs resolving"
            )
        if assignment_id:
            log.store_assignment_id(db, push["district_id"], push["section_id"], push["assignment_key"],
                                    assignment_id.strip())  # fmt: skip
            reason = f"operator confirmed the assignment exists in the LMS as {assignment_id.strip()}"
            state, category, message = "sent", None, f"Push #{push_id} marked sent; its grades can now be retried."
        else:
            reason = "operator confirmed the assignment is not in the LMS; the create may be retried"
            state, category = "failed", Category.TRANSIENT
            message = f"Push #{push_id} can now be retried: `lmsdata retry --push {push_id}`."
        db.execute(
            "INSERT INTO push_attempts (push_id, started_at, duration_ms, message, outcome, trigger) "
            "VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0, ?, 'skipped', 'resolve')",
            [push_id, reason],
        )
        log.finish_attempt(db, push_id, None, log.AttemptResult("skipped", None, reason, None, category),
                           push_state=state)  # fmt: skip
        audit.record(db, actor=actor, action="resolve", target=f"push {push_id}", outcome="ok",
                     params={"assignment_id": assignment_id, "state": state}, detail=reason)  # fmt: skip
        bump_data_version(db)
    return message
