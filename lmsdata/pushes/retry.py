"""Safe retries of failed pushes: one, a selection, or every failed push matching a filter.

The rules, in the order they apply to each push (docs/pushes.md explains them for support staff):
1. Only the newest payload per (section, assignment, student) is ever sent; older unsent ones become
   `superseded`, and nothing older is sent after something newer.
2. A push is claimed with a lease in a write transaction first, so two overlapping runs never send
   the same push; a lease left by a killed run expires (or is taken over at once if its process is gone).
3. A request a killed run left on the wire is checked in Clever before anything is sent again.
4. A create whose outcome is unknown is never re-sent blindly: it waits for evidence.
5. The blocking condition is re-checked against fresh data from Clever (`gate.blocker`); a push
   still blocked is skipped with its reason.
6. Districts run concurrently; each token is paced by the client; transient failures are retried
   with backoff by the sender. Every run leaves an audit row and bumps the data version.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata import audit, inputs
from lmsdata.access import Actor, Permission
from lmsdata.client import CleverClient, DistrictClient
from lmsdata.db import bump_data_version, connect
from lmsdata.errors import CleverError, TokenRevoked
from lmsdata.pushes import log
from lmsdata.pushes.gate import blocker, matches
from lmsdata.pushes.sender import Sender, SendPolicy
from lmsdata.pushes.situation import FreshLook
from lmsdata.pushes.taxonomy import Category
from lmsdata.redact import redact

OUTCOMES = ("sent", "failed", "skipped", "superseded", "unknown", "ready")  # "ready": dry run only
KIND_ORDER = {"assignment_create": 0, "assignment_update": 1, "submission_update": 2}


@dataclass(frozen=True)
class RetryItem:
    push_id: int
    outcome: str
    reason: str
    district_id: str | None = None
    category: str | None = None         # what blocks it now (slug), for failed/skipped/unknown
    status: int | None = None
    recheck_at: str | None = None       # skipped while an interrupted run's write may still land: look then


@dataclass(frozen=True)
class RetryProgress:
    done: int
    total: int
    item: RetryItem


@dataclass
class RetryReport:
    items: list[RetryItem] = field(default_factory=list)
    dry_run: bool = False
    requests: int = 0
    duration_s: float = 0.0
    interrupted: str | None = None      # why the run stopped before the end

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(item.outcome for item in self.items)
        return {outcome: found.get(outcome, 0) for outcome in OUTCOMES if outcome != "ready" or self.dry_run}

    @property
    def audit_outcome(self) -> str:
        counts = self.counts
        troubled = counts["failed"] + counts["unknown"] + bool(self.interrupted)
        if troubled and counts["sent"]:
            return "partial"
        return "failed" if troubled else "ok"


@dataclass(frozen=True)
class RetryOptions:
    concurrency: int = 8                # districts at once
    lease_s: float = 300.0
    claim_batch: int = 50
    policy: SendPolicy = field(default_factory=SendPolicy)
    # How long a request left on the wire by a killed run may still be processed by Clever; until then
    # reading Clever cannot tell "not arrived" from "still in progress". None: the client's write timeout.
    settle_s: float | None = None


def retry_pushes(
    client: CleverClient,
    db_path: str | Path,
    push_ids: Sequence[int] | None = None,
    *,
    district_id: str | None = None,
    category: str | Category | None = None,
    all_failed: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[RetryProgress], None] | None = None,
    actor: Actor = "system",
    options: RetryOptions | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RetryReport:
    """Retry the given pushes (or every failed one matching the filters); one `RetryItem` per push.

    A signed-in `actor` needs the operator role (AccessDenied, audited, before anything is read or sent).
    """
    if not push_ids and not all_failed:
        raise ValueError("say which pushes to retry: give push ids, or all_failed=True")
    who = audit.authorize(db_path, actor, Permission.RETRY, action="retry",
                          target=_target(push_ids, district_id=district_id, all_failed=all_failed),
                          params={"push_ids": list(push_ids or [])[:100], "all_failed": all_failed})
    options = options or RetryOptions()
    run = _Run(client, db_path, options, dry_run=dry_run, on_progress=on_progress, sleep=sleep)
    started = time.perf_counter()
    requests_before = client.requests_made
    with connect(db_path) as db:
        selected = run.select(db, push_ids, district_id=district_id, category=category, all_failed=all_failed)
    try:
        run.run_districts(selected)
    except BaseException as exc:  # Ctrl-C, Clever refusing the app, a bug: the audit row says so
        run.stop.set()
        run.report.interrupted = redact(str(exc)) or type(exc).__name__
        raise
    finally:
        run.report.duration_s = time.perf_counter() - started
        run.report.requests = client.requests_made - requests_before
        _record(db_path, run.report, actor=who, push_ids=push_ids, district_id=district_id, category=category,
                all_failed=all_failed)  # fmt: skip
    return run.report


class _Run:
    """One retry run: its selection, its lease owner, and the items it reports."""

    def __init__(
        self,
        client: CleverClient,
        db_path: str | Path,
        options: RetryOptions,
        *,
        dry_run: bool,
        on_progress: Callable[[RetryProgress], None] | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.db_path = db_path
        self.options = options
        self.dry_run = dry_run
        self.on_progress = on_progress
        self.sleep = sleep
        self.owner = log.new_lease_owner()
        self.settle_s = client.options.write_timeout if options.settle_s is None else options.settle_s
        self.report = RetryReport(dry_run=dry_run)
        self.stop = threading.Event()
        self.total = 0
        self._lock = threading.Lock()

    def emit(self, item: RetryItem) -> None:
        with self._lock:
            self.report.items.append(item)
            done = len(self.report.items)
            if self.on_progress is not None:
                self.on_progress(RetryProgress(done, self.total, item))

    # --- selection ----------------------------------------------------------------------------

    def select(
        self,
        db: sqlite_utils.Database,
        push_ids: Sequence[int] | None,
        *,
        district_id: str | None,
        category: str | Category | None,
        all_failed: bool,
    ) -> dict[str, list[dict[str, Any]]]:
        """The pushes to work on, grouped by district; everything else is reported at once."""
        if push_ids:
            wanted = list(dict.fromkeys(int(i) for i in push_ids))
        else:
            wanted = log.retryable_ids(db, district_id=district_id, category=category)
        rows = _rows(db, wanted)
        self.total = len(wanted)
        wanted_category = Category.from_slug(category) if isinstance(category, str) else category
        if not self.dry_run:
            present = [i for i in wanted if i in rows]
            for start in range(0, len(present), 500):
                log.supersede_older(db, present[start : start + 500])
            rows = _rows(db, wanted)
        by_district: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for push_id in wanted:
            push = rows.get(push_id)
            early = self._early_item(push_id, push, district_id, wanted_category)
            if early is not None:
                self.emit(early)
            elif push is not None:
                by_district[push["district_id"]].append(push)
        for pushes in by_district.values():
            pushes.sort(key=lambda p: (KIND_ORDER.get(p["kind"], 9), p["created_at"], p["id"]))
        return by_district

    def _early_item(
        self,
        push_id: int,
        push: Mapping[str, Any] | None,
        district_id: str | None,
        category: Category | None,
    ) -> RetryItem | None:
        if push is None:
            return RetryItem(push_id, "skipped", f"there is no push #{push_id} in the log")
        did = push["district_id"]
        if district_id is not None and did != district_id:
            return RetryItem(push_id, "skipped", f"not in district {district_id}", did)
        if category is not None and push["category"] != category.slug:
            return RetryItem(push_id, "skipped", f"not in category {category.slug}", did, push["category"])
        if push["state"] == "superseded":
            return RetryItem(push_id, "superseded", _superseded_reason(push["superseded_by"]), did)
        if push["state"] == "sent":
            return RetryItem(push_id, "skipped", f"already sent ({push['updated_at']})", did)
        return None

    # --- districts ----------------------------------------------------------------------------

    def run_districts(self, by_district: Mapping[str, list[dict[str, Any]]]) -> None:
        if not by_district:
            return
        self.client.district_tokens()  # once, before the workers race to list the tokens each
        workers = max(1, min(self.options.concurrency, len(by_district)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retry") as pool:
            futures = [pool.submit(self.run_district, did, pushes) for did, pushes in by_district.items()]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                self.stop.set()
                raise

    def run_district(self, district_id: str, pushes: list[dict[str, Any]]) -> None:
        with connect(self.db_path) as db:
            try:
                dc = self.client.district(district_id)
            except TokenRevoked as exc:
                self._skip_all(db, pushes, Category.TOKEN_REVOKED, exc.message or str(exc))
                return
            worker = _DistrictWorker(self, db, dc)
            for start in range(0, len(pushes), self.options.claim_batch):
                if self.stop.is_set():
                    return
                worker.run_batch(pushes[start : start + self.options.claim_batch])

    def _skip_all(
        self, db: sqlite_utils.Database, pushes: Iterable[Mapping[str, Any]], category: Category, why: str
    ) -> None:
        for push in pushes:
            reason = f"{why}. {category.next_step}"
            if not self.dry_run:
                log.record_skip(db, push["id"], reason, category=category)
            self.emit(RetryItem(push["id"], "skipped", reason, push["district_id"], category.slug))


class _DistrictWorker:
    """Claims and handles one district's pushes, in order, on one thread."""

    def __init__(self, run: _Run, db: sqlite_utils.Database, dc: DistrictClient) -> None:
        self.run = run
        self.db = db
        # WAL keeps every commit atomic with NORMAL; a power cut may lose the last attempts' results,
        # which the next run settles like a killed run's (checked in Clever), never re-sent blindly.
        db.execute("PRAGMA synchronous = NORMAL")
        self.creates_ready: set[tuple[str, str]] = set()  # dry run: creates this run would send
        self.dc = dc
        self.look = FreshLook(dc, db)
        self.sender = Sender(db, dc, policy=run.options.policy, sleep=run.sleep, rng=random.Random())

    def run_batch(self, pushes: list[dict[str, Any]]) -> None:
        ids = [p["id"] for p in pushes]
        claimed = ids if self.run.dry_run else log.claim(self.db, ids, self.run.owner, lease_s=self.run.options.lease_s)
        mine = set(claimed)
        renew_at = time.monotonic() + self.run.options.lease_s / 2
        try:
            for push in pushes:
                if self.run.stop.is_set():
                    return
                if mine and time.monotonic() > renew_at and not self.run.dry_run:
                    log.renew(self.db, sorted(mine), self.run.owner, lease_s=self.run.options.lease_s)
                    renew_at = time.monotonic() + self.run.options.lease_s / 2
                if push["id"] not in mine:
                    self.run.emit(self._not_claimed(push))
                    continue
                self.run.emit(self._handle(push["id"]))
                mine.discard(push["id"])
        finally:
            if not self.run.dry_run:
                log.release(self.db, sorted(mine), self.run.owner)

    def _not_claimed(self, push: Mapping[str, Any]) -> RetryItem:
        now = log.get_push(self.db, push["id"]) or push
        if now["state"] == "sent":
            return RetryItem(push["id"], "skipped", "already sent by another run", push["district_id"])
        if now["state"] == "superseded":
            return RetryItem(push["id"], "superseded", _superseded_reason(now["superseded_by"]), push["district_id"])
        why = f"being sent by another run (its lease ends {now['lease_until']})"
        return RetryItem(push["id"], "skipped", why, push["district_id"])

    def _handle(self, push_id: int) -> RetryItem:
        try:
            return self._decide(push_id)
        except TokenRevoked as exc:
            return self._skip(log.get_push(self.db, push_id) or {"id": push_id}, Category.TOKEN_REVOKED,
                              f"still blocked: {exc.message or exc}")  # fmt: skip
        except CleverError as exc:
            push = log.get_push(self.db, push_id) or {"id": push_id}
            return self._skip(push, None, f"could not check Clever before sending: {exc}")

    def _decide(self, push_id: int) -> RetryItem:
        push = log.get_push(self.db, push_id)
        did = self.dc.district_id
        if push is None or push["state"] not in log.RETRYABLE_STATES:
            state = push["state"] if push else "gone"
            return RetryItem(push_id, "skipped", f"no longer retryable (now {state})", did)
        unsendable = _unsendable(push)
        if unsendable is not None:
            return self._skip(push, None, unsendable)
        newer = log.newer_push(self.db, push)
        if newer is not None:
            if not self.run.dry_run:
                log.mark_superseded(self.db, push_id, newer["id"])
            return RetryItem(push_id, "superseded", _superseded_reason(newer["id"]), did)
        evidence = self._evidence(push)
        if evidence is not None:
            return evidence
        blocked = blocker(self.db, self.look, push)
        key = (push["section_id"], push["assignment_key"])
        if self.run.dry_run and blocked and blocked.category is Category.ASSIGNMENT_NOT_CREATED \
                and key in self.creates_ready:
            return RetryItem(push_id, "ready", "can be sent once its assignment create (in this run) succeeds",
                             did, push["category"])  # fmt: skip
        if blocked is not None:
            return self._skip(push, blocked.category, f"still blocked: {blocked.reason}")
        if self.run.dry_run:
            if push["kind"] == "assignment_create":
                self.creates_ready.add(key)
            return RetryItem(push_id, "ready", "can be sent now", did, push["category"])
        outcome = self.sender.send(push, trigger="retry")
        category = outcome.category.slug if outcome.category else None
        if outcome.ok:
            return RetryItem(push_id, "sent", "sent", did, None, outcome.status)
        why = f"{outcome.message or 'failed'}. {outcome.next_step or ''}".strip()
        return RetryItem(push_id, outcome.state, why, did, category, outcome.status)

    def _evidence(self, push: Mapping[str, Any]) -> RetryItem | None:
        """Settle what is already known: an assignment id on record, or a write a killed run left open."""
        did, push_id = push["district_id"], push["id"]
        if push["kind"] == "assignment_create":
            existing = log.live_assignment_id(self.db, did, push["section_id"], push["assignment_key"])
            if existing:
                self._settle(push, "sent", f"already in Clever as assignment {existing} (id on record)")
                return RetryItem(push_id, "sent", f"already created in Clever as {existing}; not sent again", did)
        dangling = log.open_attempt(self.db, push_id)
        if push["kind"] == "assignment_create" and (dangling is not None or push["state"] == "unknown"):
            reason = f"the create may have reached Clever (no answer recorded). {Category.OUTCOME_UNKNOWN.next_step}"
            self._settle(push, "unknown", reason, Category.OUTCOME_UNKNOWN, dangling)
            return RetryItem(push_id, "unknown", reason, did, Category.OUTCOME_UNKNOWN.slug)
        if dangling is not None and self._may_be_in_progress(dangling):
            settle = self.run.settle_s
            when = log.iso(log.parse_time(dangling["started_at"]) + timedelta(seconds=settle))
            skipped = self._skip(push, None, f"an interrupted run's request (started {dangling['started_at']}) may "
                                             f"still be in progress at Clever; it is checked again after {when}")
            return replace(skipped, recheck_at=when)
        if dangling is not None and self._took_effect(push):
            self._settle(push, "sent", "confirmed in Clever: an interrupted run had sent it", None, dangling)
            return RetryItem(push_id, "sent", "an interrupted run had already sent it (checked in Clever)", did)
        if dangling is not None and not self.run.dry_run:
            self._close_dangling(dangling, "interrupted before an answer; not found in Clever, so sending again")
        return None

    def _may_be_in_progress(self, dangling: Mapping[str, Any]) -> bool:
        started = log.parse_time(dangling["started_at"])
        return datetime.now(UTC) - started < timedelta(seconds=self.run.settle_s)

    def _took_effect(self, push: Mapping[str, Any]) -> bool:
        assignment_id = log.live_assignment_id(self.db, push["district_id"], push["section_id"], push["assignment_key"])
        if not assignment_id:
            return False
        if push["kind"] == "submission_update":
            current = self.dc.get_submission(push["section_id"], assignment_id, push["student_id"])
        else:
            current = self.dc.get_assignment(push["section_id"], assignment_id)
        return matches(push["payload"], current)

    def _settle(
        self,
        push: Mapping[str, Any],
        state: str,
        reason: str,
        category: Category | None = None,
        dangling: Mapping[str, Any] | None = None,
    ) -> None:
        if self.run.dry_run:
            return
        if dangling is not None:
            self._close_dangling(dangling, reason)
        result = log.AttemptResult("skipped", None, reason, 0.0, category)
        log.finish_attempt(self.db, push["id"], None, result, push_state=state)

    def _close_dangling(self, dangling: Mapping[str, Any], reason: str) -> None:
        """Close a request a killed run left open, and write the audit row that run could not."""
        self.db.execute(
            "UPDATE push_attempts SET outcome = 'unknown', message = ? WHERE id = ?", [reason, dangling["id"]]
        )
        audit.record(
            self.db, actor="system", action=dangling["trigger"] or "push", target=f"push {dangling['push_id']}",
            outcome="failed", params={"attempt_id": dangling["id"], "started_at": dangling["started_at"]},
            detail=f"interrupted: the run sending this push stopped before Clever's answer (noticed by a later "
                   f"retry); {reason}",
        )  # fmt: skip

    def _skip(self, push: Mapping[str, Any], category: Category | None, why: str) -> RetryItem:
        next_step = f" {category.next_step}" if category else ""
        reason = f"{why.rstrip('.')}.{next_step}"
        if not self.run.dry_run:
            log.record_skip(self.db, push["id"], reason, category=category)
        slug = category.slug if category else push.get("category")
        return RetryItem(push["id"], "skipped", reason, push.get("district_id"), slug)


def _unsendable(push: Mapping[str, Any]) -> str | None:
    """Why a logged payload can never be sent (a NaN or infinite grade from an older import), if so."""
    bad = inputs.non_finite(json.loads(push["payload"]))
    if bad is None:
        return None
    return f"{bad} is not a finite number, so Clever cannot accept it; push the corrected grade again"


def _superseded_reason(newer_id: Any) -> str:
    return f"a newer grade for the same student and assignment (push #{newer_id}) replaces it; not sent"


def _rows(db: sqlite_utils.Database, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows.update({row["id"]: row for row in db.query(f"SELECT * FROM pushes WHERE id IN ({marks})", chunk)})
    return rows


def _record(
    db_path: str | Path,
    report: RetryReport,
    *,
    actor: str,
    push_ids: Sequence[int] | None,
    district_id: str | None,
    category: str | Category | None,
    all_failed: bool,
) -> None:
    """One audit row per run (counts included) and a data-version bump, in one transaction."""
    counts = report.counts
    params: dict[str, Any] = {
        "push_ids": list(push_ids or [])[:100],
        "selected": len(report.items),
        "all_failed": all_failed,
        "district_id": district_id,
        "category": category.slug if isinstance(category, Category) else category,
        "dry_run": report.dry_run,
        "counts": counts,
        "requests": report.requests,
    }
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n) or "nothing to retry"
    if report.interrupted:
        summary += f"; stopped early: {report.interrupted}"
    if report.dry_run:
        summary = "dry run: " + summary
    target = _target(push_ids, district_id=district_id, all_failed=all_failed)
    with connect(db_path) as db, db.atomic():
        audit.record(db, actor=actor, action="retry", target=target, outcome=report.audit_outcome,
                     params=params, detail=summary)  # fmt: skip
        bump_data_version(db)


def _target(push_ids: Sequence[int] | None, *, district_id: str | None, all_failed: bool) -> str:
    return district_id or ("all districts" if all_failed else f"{len(push_ids or [])} push(es)")
