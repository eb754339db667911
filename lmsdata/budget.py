"""Budget before bulk: what a bulk retry will cost in requests per district token, and how long it takes.

Modelled on `lmsdata.pushes.retry` and the client's pacing (docs/readiness.md#budget-before-bulk):
one token listing per run; per district one district check, then per push the gate's reads (a
section for `section_not_synced`, a user and a section for the student categories, each once per run)
and the write. Each token serialises its requests; the pacer spends a fixed window's budget (the limit
less the client's 2 % reserve) and waits for the next window; `concurrency` districts run at once.
Jobs record `estimate` next to the run's actual requests and duration.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from lmsdata.client import DATA_PAGE_LIMIT
from lmsdata.pushes import log
from lmsdata.pushes.taxonomy import Category

DEFAULT_LIMIT_PER_MINUTE = 1200
LIMIT_ENV = "LMSDATA_CLEVER_RATE_LIMIT"


@dataclass(frozen=True)
class BudgetSettings:
    limit_per_minute: int = DEFAULT_LIMIT_PER_MINUTE
    concurrency: int = 8
    reserve_fraction: float = 0.02          # ClientOptions.reserve_fraction
    window_s: float = 60.0
    seconds_per_request: float = 0.015      # one token's request round trip (bench/budget.py measures it)

    @property
    def window_budget(self) -> int:
        return self.limit_per_minute - max(1, math.ceil(self.limit_per_minute * self.reserve_fraction))


def settings_from_env(env: Mapping[str, str], *, concurrency: int = 8) -> BudgetSettings:
    """Clever's per-token limit is configurable (`LMSDATA_CLEVER_RATE_LIMIT`, requests a minute)."""
    raw = env.get(LIMIT_ENV, "") or str(DEFAULT_LIMIT_PER_MINUTE)
    if not raw.isdigit() or int(raw) < 10:
        raise ValueError(f"{LIMIT_ENV} must be a whole number of requests a minute (at least 10), not {raw!r}")
    return BudgetSettings(limit_per_minute=int(raw), concurrency=concurrency)


@dataclass(frozen=True)
class TokenBudget:
    district_id: str
    pushes: int
    requests: int
    queued: int             # requests already waiting on this token (other jobs)
    seconds: float
    share_of_limit: float   # requests (incl. queued) / one minute's limit


@dataclass(frozen=True)
class Estimate:
    tokens: list[TokenBudget] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    limit_per_minute: int = DEFAULT_LIMIT_PER_MINUTE
    concurrency: int = 8

    @property
    def busiest(self) -> TokenBudget | None:
        return max(self.tokens, key=lambda t: (t.requests + t.queued, t.district_id), default=None)

    def summary(self) -> str:
        busiest = self.busiest
        if busiest is None:
            return "Nothing to send: no requests to Clever."
        return (f"{self.requests:,} requests over {len(self.tokens)} district token(s); busiest "
                f"{busiest.district_id} with {busiest.requests + busiest.queued:,} "
                f"({busiest.share_of_limit:.0%} of {self.limit_per_minute:,}/min); about "
                f"{_duration(self.seconds)} at {self.concurrency} districts at once.")  # fmt: skip


def token_seconds(requests: int, settings: BudgetSettings) -> float:
    """How long one token takes for `requests` serial requests, starting at a window's beginning."""
    if requests <= 0:
        return 0.0
    budget = settings.window_budget
    if budget * settings.seconds_per_request >= settings.window_s:  # latency-bound: never waits
        return requests * settings.seconds_per_request
    waits = (requests - 1) // budget
    return waits * settings.window_s + (requests - waits * budget) * settings.seconds_per_request


def retry_requests(pushes: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """(pushes to send, requests) per district for the newest retryable pushes, as `retry_pushes` issues them."""
    newest: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for push in sorted(pushes, key=lambda p: (p["created_at"], p["id"])):
        if push["state"] not in log.RETRYABLE_STATES:
            continue
        key = (push["district_id"], push["section_id"], push["assignment_key"], push["kind"], push["student_id"])
        newest[key if push["kind"] != "assignment_create" else (push["id"],)] = push
    sections: dict[str, set[str]] = defaultdict(set)
    users: dict[str, set[str]] = defaultdict(set)
    writes: dict[str, int] = defaultdict(int)
    for push in newest.values():
        did = push["district_id"]
        # the readiness check reads every push's section and student (once each per run), whatever
        # its last failure; a payload Clever rejected is then skipped without its write
        sections[did].add(push["section_id"])
        if push.get("student_id"):
            users[did].add(push["student_id"])
        writes[did] += push.get("category") != Category.PAYLOAD_INVALID.slug
    return {did: (n, 1 + n + len(sections[did]) + len(users[did])) for did, n in writes.items()}


def estimate(
    per_district: Mapping[str, tuple[int, int]],
    settings: BudgetSettings,
    *,
    queued: Mapping[str, int] | None = None,
    token_listing: int = 1,
) -> Estimate:
    """Per-token time, then districts handed to `concurrency` workers in order (as the thread pool does)."""
    queued = queued or {}
    tokens = []
    for did, (pushes, requests) in per_district.items():
        waiting = queued.get(did, 0)
        tokens.append(TokenBudget(did, pushes, requests, waiting, token_seconds(requests + waiting, settings),
                                  (requests + waiting) / settings.limit_per_minute))  # fmt: skip
    workers = [0.0] * max(1, min(settings.concurrency, len(tokens) or 1))
    for token in tokens:
        heapq.heapreplace(workers, workers[0] + token.seconds)
    total = token_listing + sum(t.requests for t in tokens) if tokens else 0
    return Estimate(tokens, total, max(workers) if tokens else 0.0, settings.limit_per_minute,
                    settings.concurrency)  # fmt: skip


def estimate_retry(
    db: sqlite_utils.Database,
    settings: BudgetSettings,
    *,
    push_ids: Sequence[int] | None = None,
    district_id: str | None = None,
    category: str | None = None,
    queued: Mapping[str, int] | None = None,
) -> Estimate:
    """The budget of `retry_pushes` with the same selection, read from the push log (no request)."""
    ids = list(push_ids) if push_ids else log.retryable_ids(db, district_id=district_id, category=category)
    pushes: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        pushes += db.query(f"SELECT * FROM pushes WHERE id IN ({','.join('?' * len(chunk))})", chunk)
    pushes = [p for p in pushes if log.newer_push(db, p) is None]  # superseded by the run, not sent
    return estimate(retry_requests(pushes), settings, queued=queued)


def estimate_sync(
    db: sqlite_utils.Database,
    settings: BudgetSettings,
    district_ids: Sequence[str],
    *,
    full: bool,
    page_limit: int = DATA_PAGE_LIMIT,
) -> Estimate:
    """The budget of `lmsdata.sync.sync` for these districts, from the sizes the cache last saw.

    A full pull reads the events cursor, the district, and every page of schools, terms, sections and
    users (a page is `page_limit` rows; a short page ends the listing); an incremental one the district
    and (at least) one page of events. A district without a cursor gets a full pull, as in the sync.
    """
    per_district = {}
    for did in district_ids:
        cursor = db.execute("SELECT last_event_id FROM districts WHERE id = ?", [did]).fetchone()
        if not full and cursor is not None and cursor[0] is not None:
            per_district[did] = (0, 2)
            continue
        pages = sum(_count(db, table, did) // page_limit + 1 for table in ("schools", "terms", "sections", "users"))
        per_district[did] = (0, 2 + pages)
    return estimate(per_district, settings)


def _count(db: sqlite_utils.Database, table: str, district_id: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE district_id = ?", [district_id]).fetchone()[0])


def sync_targets(db: sqlite_utils.Database, district_ids: Sequence[str]) -> list[str]:
    """The districts a sync would pull, as far as the cache knows them (a dry run sends no request)."""
    return list(district_ids) or [row[0] for row in db.execute("SELECT id FROM districts ORDER BY id")]


def describe(projected: Estimate, *, top: int = 5) -> list[str]:
    """The summary and the busiest tokens, one line each: what a confirmation and `--dry-run` print."""
    lines = [projected.summary()]
    for token in sorted(projected.tokens, key=lambda t: -(t.requests + t.queued))[:top]:
        queued = f", {token.queued:,} already queued" if token.queued else ""
        lines.append(f"  {token.district_id}: {token.requests:,} requests{queued}, "
                     f"{token.share_of_limit:.0%} of a minute's limit, about {_duration(token.seconds)}")  # fmt: skip
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
