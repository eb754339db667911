"""The rules not driven elsewhere, each through its whole life against the loopback sandbox and real syncs:
the control plane changes Clever's data, the worker's sync job (`jobs.sync_and_evaluate`, injected clock)
opens the alert, `notify.deliver` sends it through Apprise to a real webhook receiver exactly once, one
re-notification after `renotify_hours`, and fixing the data in the sandbox plus a sync resolves it with one
"Resolved" message. One case per rule: stale_lms_sync, matched_below_target, failed_pushes, term_not_ready.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from lmsdata.db import connect
from lmsdata.health import Thresholds
from lmsdata.pushes import SendPolicy
from lmsdata.pushes.log import iso
from lmsdata.pushes.taxonomy import Category
from lmsdata.worker.config import AlertThresholds, Channel, WorkerConfig
from lmsdata.worker.jobs import sync_and_evaluate
from lmsdata.worker.notify import deliver
from tests.push_fixtures import Lab
from tests.webhook_receiver import Receiver, webhook_receiver

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RENOTIFY_HOURS = 1.0
TERM_DAYS = 10  # the term started this many days before the worker's clock (the grace is terms.GRACE_DAYS = 7)


@dataclass
class Scene:
    """What one case works on: the lab, its ready Canvas district, the worker's clock, what it changed."""

    lab: Lab
    district: str
    now: Callable[[], datetime]
    changed: list[str] = field(default_factory=list)

    def matched(self, matched: bool) -> list[str]:
        """The district's students that Clever shows (un)matched now."""
        return [u["id"] for u in self.lab.sandbox.users(self.district, role="student")
                if bool((u.get("lms_status") or {}).get("synced_in_lms")) == matched]

    def students_pct(self) -> float:
        return float(self.lab.sandbox.district(self.district)["lms_matched_percentage"]["students"])


@dataclass(frozen=True)
class Case:
    rule: str
    setup: Callable[[Scene], Thresholds]  # prepares Clever's data; returns the district's thresholds
    break_: Callable[[Scene], None]
    fix: Callable[[Scene], None]
    opened: str  # part of what the alert says
    start: Callable[[Lab, str], datetime] = lambda lab, district: T0


# ---- stale_lms_sync: Clever's last_lms_sync (new control call) moves back, then the LMS syncs again ----
def stale_setup(s: Scene) -> Thresholds:
    s.lab.sandbox.set_last_lms_sync(s.district, iso(s.now() - timedelta(minutes=10)))
    return Thresholds(stale_sync_hours=2)


def stale_break(s: Scene) -> None:
    s.lab.sandbox.set_last_lms_sync(s.district, iso(s.now() - timedelta(hours=5)))


def stale_fix(s: Scene) -> None:
    s.lab.sandbox.set_last_lms_sync(s.district, iso(s.now()))


# ---- matched_below_target: Clever unmatches students until the share is under the target, then rematches ----
def below_setup(s: Scene) -> Thresholds:
    return Thresholds(match_target=s.students_pct() - 1)


def below_break(s: Scene) -> None:
    target = s.students_pct() - 1
    for student in s.matched(True):
        if s.students_pct() < target:
            break
        s.lab.sandbox.set_user_matched(student, False)
        s.changed.append(student)
    assert s.students_pct() < target


def below_fix(s: Scene) -> None:
    for student in s.changed:
        s.lab.sandbox.set_user_matched(student, True)


# ---- failed_pushes: two real grade pushes fail at the sandbox (the students unmatched), then are released ----
def failed_setup(s: Scene) -> Thresholds:
    return Thresholds(failed_pushes_alert=2)


def failed_break(s: Scene) -> None:
    with s.lab.client() as client:
        district, section, _ = s.lab.canvas_quiz(client)
        assert district == s.district
        pusher = s.lab.pusher(client, policy=SendPolicy(auto_retries=0))
        for student in s.lab.students(section)[:2]:
            s.lab.sandbox.set_user_matched(student, False)  # the cache does not know yet: the push is sent
            result = pusher.push_grade(district, section["id"], "quiz-1", student, {"grade_points": 17})
            assert (result.state, result.category) == ("failed", Category.STUDENT_NOT_MATCHED)
            s.changed.append(student)
    assert len(s.changed) == 2


def failed_fix(s: Scene) -> None:
    for student in s.changed:  # the sync sees them matched and releases both pushes (WorkerConfig.auto_release)
        s.lab.sandbox.set_user_matched(student, True)


# ---- term_not_ready: a term that started TERM_DAYS ago is ready, then its sections are unsynced, then synced ----
def _first_term(lab: Lab, district: str) -> tuple[str, date]:
    term = min(lab.sandbox.terms(district), key=lambda t: t["start_date"])
    return term["id"], date.fromisoformat(term["start_date"][:10])


def term_start(lab: Lab, district: str) -> datetime:
    started = _first_term(lab, district)[1] + timedelta(days=TERM_DAYS)
    return datetime(started.year, started.month, started.day, 6, 0, tzinfo=UTC)


def _term_sections(s: Scene) -> list[str]:
    term_id = _first_term(s.lab, s.district)[0]
    return [sec["id"] for sec in s.lab.sandbox.sections(s.district) if sec["term_id"] == term_id]


def term_setup(s: Scene) -> Thresholds:
    for section in _term_sections(s):
        s.lab.sandbox.set_section_synced(section, True)
        for student in s.lab.sandbox.section(section)["students"]:
            s.lab.sandbox.set_user_matched(student, True)
    return Thresholds()


def term_break(s: Scene) -> None:
    s.changed = _term_sections(s)
    assert s.changed
    for section in s.changed:
        s.lab.sandbox.set_section_synced(section, False)


def term_fix(s: Scene) -> None:
    for section in s.changed:
        s.lab.sandbox.set_section_synced(section, True)


CASES = [
    Case("stale_lms_sync", stale_setup, stale_break, stale_fix, "(expected within 2 h)"),
    Case("matched_below_target", below_setup, below_break, below_fix, "% of students matched (target "),
    Case("failed_pushes", failed_setup, failed_break, failed_fix, "2 failed grade pushes (threshold 2)"),
    Case("term_not_ready", term_setup, term_break, term_fix, f"sections not synced in the LMS {TERM_DAYS} days "
         "after the term started", start=term_start),
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as state:
        yield state


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_each_rule_opens_notifies_once_renotifies_and_resolves_through_the_sandbox(
    lab: Lab, receiver: Receiver, case: Case
) -> None:
    district = lab.district("success", "canvas")
    clock = [case.start(lab, district)]
    scene = Scene(lab, district, lambda: clock[0])
    config = WorkerConfig(alerts=AlertThresholds(renotify_hours=RENOTIFY_HOURS),
                          channels=(Channel(receiver.url, frozenset({case.rule})),),
                          district_overrides={district: case.setup(scene)})
    subject = f"{case.rule} ({district})"

    def cycle(after: timedelta = timedelta(minutes=15)) -> list[str]:
        """One worker sync and one delivery; the titles this district's alert sent to the receiver."""
        clock[0] += after
        seen = len(receiver.received)
        sync_and_evaluate(lab.settings, config, lambda: clock[0], full=False)
        with connect(lab.db_path) as db:
            deliver(db, config.channels, clock[0])
        return [m["title"] for m in receiver.received[seen:] if m["title"].endswith(f"({district})")]

    def alerts() -> list[dict[str, Any]]:
        with connect(lab.db_path) as db:
            return list(db.query("SELECT * FROM alerts WHERE rule = ? AND subject = ?", [case.rule, district]))

    assert cycle() == [] and alerts() == []

    case.break_(scene)
    assert cycle() == [f"Alert: {subject}"]
    [opened] = alerts()
    assert opened["state"] == "open" and case.opened in opened["detail"]
    [message] = [m for m in receiver.received if m["title"] == f"Alert: {subject}"]
    assert case.opened in message["message"]
    assert cycle() == []  # still so, within renotify_hours: nothing new

    assert cycle(timedelta(hours=RENOTIFY_HOURS)) == [f"Still open: {subject}"]
    assert cycle() == []

    case.fix(scene)
    assert cycle() == [f"Resolved: {subject}"]
    [resolved] = alerts()  # the same alert, never reopened
    assert resolved["id"] == opened["id"] and resolved["state"] == "resolved"
    assert resolved["resolution"].startswith("resolved by itself") and resolved["notifications"] == 2
    assert cycle() == [] and cycle(timedelta(hours=RENOTIFY_HOURS)) == []
