"""Retry gating: can this push succeed now? Re-checks its blocking condition with fresh data from Clever.

A push blocked by something only the district or Clever support can fix would fail again, cost a
request and alarm whoever reads the log, so it is skipped with the reason instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from lmsdata.pushes import log, readiness
from lmsdata.pushes.situation import FreshLook
from lmsdata.pushes.taxonomy import Category


@dataclass(frozen=True)
class Blocked:
    category: Category
    reason: str


def blocker(db: sqlite_utils.Database, look: FreshLook, push: Mapping[str, Any]) -> Blocked | None:
    """The condition that still blocks `push`, checked against Clever now; None when it may be sent.

    The same `readiness.check` as the dashboard's preview, over every precondition, with facts
    fresh from Clever (one request per district, section and user a run). Raises TokenRevoked
    from the district check.
    """
    verdict = readiness.check(push, readiness.FreshFacts(db, look, push["district_id"]))
    if verdict.ready is False and verdict.category is not None:
        return Blocked(verdict.category, verdict.reason)
    return None


def matches(payload_json: str, current: Mapping[str, Any]) -> bool:
    """True when every field we sent already has that value in Clever (the write took effect)."""
    payload = json.loads(payload_json)
    return all(_same(value, current.get(key)) for key, value in payload.items())


def _same(sent: Any, seen: Any) -> bool:
    if isinstance(sent, bool) or isinstance(seen, bool):
        return sent == seen
    if isinstance(sent, (int, float)) and isinstance(seen, (int, float)):
        return abs(float(sent) - float(seen)) < 1e-9
    if isinstance(sent, str) and isinstance(seen, str) and sent != seen:
        try:
            return log.parse_time(sent) == log.parse_time(seen)
        except ValueError:
            return False
    if isinstance(sent, list) and isinstance(seen, list) and len(sent) == len(seen):
        return all(_same(a, b) for a, b in zip(sent, seen, strict=True))
    return bool(sent == seen or (sent in (None, [], "") and seen in (None, [], "")))
