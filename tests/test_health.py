"""Health rules, case by case from one table: inputs → expected status, owner and next step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lmsdata.config import ConfigError
from lmsdata.errors import BadRequest, BadResponse, RateLimited, RequestTimeout, ServerError, TokenRevoked
from lmsdata.health import (
    OWNERS,
    STATUS_BY_NAME,
    STATUSES,
    Thresholds,
    assess,
    healthy_share,
    is_connected,
    matched_percentages,
    state_since,
    transitions,
    urgency,
)
from lmsdata.pushes.taxonomy import Category
from lmsdata.sync import NoToken
from lmsdata.wording import lms_name, plural, possessive

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FRESH = "2026-11-27T06:00:00.000Z"  # 6 hours before NOW
OLD = "2026-11-23T12:00:00.000Z"  # 4 days before NOW
TEN_DAYS_AGO = "2026-11-17T12:00:00.000Z"
TWO_DAYS_AGO = "2026-11-25T12:00:00.000Z"

HEALTHY: dict[str, Any] = {
    "id": "d1",
    "name": "Springfield Unified",
    "lms_type": "canvas",
    "lms_state": "success",
    "last_lms_sync": FRESH,
    "matched_students": 98.0,
    "matched_teachers": 100.0,
    "matched_sections": 97.0,
    "students": 1000,
    "teachers": 50,
    "sections": 200,
    "unmatched_students": 20,
    "unmatched_teachers": 0,
    "unsynced_sections": 6,
    "last_sync_error": None,
    "failed_pushes": 0,
}


@pytest.fixture(autouse=True)
def default_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table states the default rules: no LMSDATA_* override from the developer's shell."""
    for name in ("MATCH_TARGET", "STALE_SYNC_HOURS", "STUCK_SETUP_DAYS", "FAILED_PUSHES_ALERT", "MATCH_DROP_POINTS"):
        monkeypatch.delenv(f"LMSDATA_{name}", raising=False)


def row(**changes: Any) -> dict[str, Any]:
    return {**HEALTHY, **changes}


# (case id, row, expected status, expected owner, words the next step must contain)
CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("connected, fresh, matched", row(), "healthy", "nobody", "Nothing to do"),
    ("lms_state null", row(lms_state=None, lms_type=None), "not_connected", "partner", "invitation"),
    ("lms_state empty", row(lms_state="", lms_type=""), "not_connected", "partner", "lmsdata invite d1"),
    (
        "not connected, invitation open",
        row(lms_state="", invitation_state="sent", invitation_email="it@d1.org", invitation_sent_at=FRESH),
        "not_connected",
        "district",
        "an invitation went to it@d1.org on 2026-11-27. Resend it",
    ),
    (
        "not connected, invitation bounced",
        row(lms_state=None, invitation_state="failed", invitation_email="it@d1.org"),
        "not_connected",
        "partner",
        "The last invitation to it@d1.org could not be sent",
    ),
    (
        "not connected, invitation expired",
        row(lms_state=None, invitation_state="expired", invitation_email="it@d1.org"),
        "not_connected",
        "partner",
        "expired without an answer",
    ),
    (
        "not connected, invitation cancelled",
        row(lms_state=None, invitation_state="cancelled"),
        "not_connected",
        "partner",
        "Send the district an LMS Connect invitation",
    ),
    ("lms_state blank spaces", row(lms_state="  "), "not_connected", "partner", "invitation"),
    (
        "pending authorization, recent",
        row(lms_state="pending_authorization", lms_state_since=TWO_DAYS_AGO),
        "setting_up",
        "partner",
        "Approve the district's LMS Connect request",
    ),
    (
        "pending authorization, stuck",
        row(lms_state="pending_authorization", lms_state_since=TEN_DAYS_AGO),
        "action_needed",
        "partner",
        "Approve",
    ),
    (
        "initial sync, recent",
        row(lms_state="initial_sync_processing", lms_state_since=TWO_DAYS_AGO),
        "setting_up",
        "nobody",
        "Wait: Clever is reading the LMS",
    ),
    (
        "initial sync, since unknown",
        row(lms_state="initial_sync_processing"),
        "setting_up",
        "nobody",
        "Wait",
    ),
    (
        "matching, stuck",
        row(lms_state="matching_in_progress", lms_state_since=TEN_DAYS_AGO, matched_students=40.0),
        "action_needed",
        "clever_support",
        "Open a ticket with Clever support: matching LMS records has taken 10 days",
    ),
    (
        "matching, low match is expected while matching",
        row(lms_state="matching_in_progress", lms_state_since=TWO_DAYS_AGO, matched_students=40.0),
        "setting_up",
        "nobody",
        "Wait: Clever is matching",
    ),
    ("lms error", row(lms_state="error"), "action_needed", "clever_support", "Clever support"),
    ("disconnected", row(lms_state="disconnected"), "action_needed", "district", "reconnect their LMS"),
    ("unknown lms_state", row(lms_state="paused"), "action_needed", "partner", "'paused'"),
    ("stale LMS data", row(last_lms_sync=OLD), "stale", "clever_support", "since 2026-11-23"),
    (
        "stale beats below target",
        row(last_lms_sync=OLD, matched_students=50.0),
        "stale",
        "clever_support",
        "Clever support",
    ),
    (
        "students below target",
        row(matched_students=80.0, unmatched_students=200),
        "below_target",
        "district",
        "unmatched users",
    ),
    ("sections below target", row(matched_sections=90.0), "below_target", "district", "SIS and LMS"),
    (
        "percentages not reported: computed from counts",
        row(matched_students=None, matched_teachers=None, matched_sections=None, unmatched_students=300),
        "below_target",
        "district",
        "unmatched",
    ),
    (
        "percentages not reported, counts fine",
        row(matched_students=None, matched_teachers=None, matched_sections=None),
        "healthy",
        "nobody",
        "Nothing to do",
    ),
    ("failed pushes", row(failed_pushes=3), "action_needed", "partner", "3 failed grade pushes"),
    ("one failed push", row(failed_pushes=1), "action_needed", "partner", "1 failed grade push "),
    (
        "token revoked (403)",
        row(last_sync_error="403 Forbidden: Invalid token"),
        "action_needed",
        "district",
        "re-authorize this app",
    ),
    (
        "token revoked (TokenRevoked wording)",
        row(last_sync_error="The district's token was revoked", failed_pushes=4),
        "action_needed",
        "district",
        "re-authorize",
    ),
    (
        "pull refused: TokenRevoked as the sync records it",
        row(last_sync_error=str(TokenRevoked(status=401, method="GET", path="/v3.1/districts/d1"))),
        "action_needed",
        "district",
        "re-authorize",
    ),
    (
        "no token for the district: NoToken as the sync records it",
        row(last_sync_error=str(NoToken("d1"))),
        "action_needed",
        "district",
        "re-authorize",
    ),
    *[
        (
            f"pull failed: {error.__name__} as the sync records it",
            row(last_sync_error=str(error("boom", status=status, method="GET", path="/v3.1/users"))),
            "stale",
            "nobody",
            "next sync retries",
        )
        for error, status in [(ServerError, 502), (RateLimited, 429), (BadResponse, 200), (RequestTimeout, None)]
    ],
    (
        "pull failed: BadRequest as the sync records it",
        row(last_sync_error=str(BadRequest("invalid limit", status=400, method="GET", path="/v3.1/users"))),
        "stale",
        "partner",
        "send the error to our engineers",
    ),
    (
        "pull failed with 503",
        row(last_sync_error="503 Service Unavailable"),
        "stale",
        "nobody",
        "next sync retries",
    ),
    (
        "pull failed with a bad response",
        row(last_sync_error="Clever sent a response that is not JSON"),
        "stale",
        "partner",
        "lmsdata sync --district d1",
    ),
    (
        "no last_lms_sync reported (opt-in field)",
        row(last_lms_sync=None),
        "healthy",
        "nobody",
        "Nothing to do",
    ),
    ("unreadable last_lms_sync", row(last_lms_sync="yesterday"), "healthy", "nobody", "Nothing"),
    (
        "error wins over failed pushes (same urgency, state rule first)",
        row(lms_state="error", failed_pushes=9),
        "action_needed",
        "clever_support",
        "Clever support",
    ),
    (
        "failed pushes while not connected: the connection is the cause",
        row(lms_state="", failed_pushes=2),
        "not_connected",
        "partner",
        "invitation",
    ),
    (
        "failed pushes while matching: wait for Clever's setup",
        row(lms_state="matching_in_progress", failed_pushes=5),
        "setting_up",
        "nobody",
        "Wait: Clever is matching",
    ),
    (
        "not connected with stale fields is still not connected",
        row(lms_state="", last_lms_sync=OLD, matched_students=0.0),
        "not_connected",
        "partner",
        "invitation",
    ),
]


@pytest.mark.parametrize(("case", "district", "status", "owner", "step"), CASES, ids=[c[0] for c in CASES])
def test_assess_table(case: str, district: dict[str, Any], status: str, owner: str, step: str) -> None:
    health = assess(district, now=NOW)
    assert (health.status, health.owner) == (status, owner), health.reasons
    assert step in health.next_step
    assert health.explanation, "every status explains itself"
    if status == "healthy":
        assert health.reasons == []
    else:  # the verdict is its most urgent reason's
        top = health.reasons[0]
        assert (top.status, top.owner, top.next_step) == (health.status, health.owner, health.next_step)
        assert top.figure
    assert health.label == STATUS_BY_NAME[status].label
    assert health.owner_label == OWNERS[owner]


def test_every_status_and_owner_is_reachable_from_the_table() -> None:
    assert {c[2] for c in CASES} == {s.name for s in STATUSES}
    assert {c[3] for c in CASES} == set(OWNERS)


def test_reasons_keep_every_finding_most_urgent_first() -> None:
    health = assess(row(last_lms_sync=OLD, matched_students=50.0, failed_pushes=2), now=NOW)
    assert health.status == "action_needed"
    assert [r.kind for r in health.reasons] == ["failed_pushes", "stale_sync", "unmatched_students"]
    assert [r.figure.split(" ")[0] for r in health.reasons] == ["2", "Clever", "50%"]


def test_google_classroom_note_does_not_change_status() -> None:
    health = assess(row(lms_type="google_classroom"), now=NOW)
    assert health.status == "healthy"
    assert health.reasons == []
    assert any("LTI launch is not available" in note for note in health.notes)


def test_thresholds_change_the_verdict() -> None:
    district = row(matched_students=92.0, last_lms_sync=OLD, failed_pushes=1)
    lenient = Thresholds(match_target=90, stale_sync_hours=24 * 7, failed_pushes_alert=5)
    assert assess(district, now=NOW).status == "action_needed"
    assert assess(district, now=NOW, thresholds=lenient).status == "healthy"


def test_environment_sets_the_default_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    district = row(matched_students=92.0)
    assert assess(district, now=NOW).status == "below_target"
    monkeypatch.setenv("LMSDATA_MATCH_TARGET", "90")
    assert assess(district, now=NOW).status == "healthy"
    monkeypatch.setenv("LMSDATA_MATCH_DROP_POINTS", "1")
    assert [t.kind for t in transitions(HISTORY)].count("matched_students_drop") == 2


def test_failed_push_alert_zero_disables_the_rule() -> None:
    assert assess(row(failed_pushes=50), now=NOW, thresholds=Thresholds(failed_pushes_alert=0)).status == "healthy"


def test_thresholds_from_env() -> None:
    t = Thresholds.from_env({"LMSDATA_MATCH_TARGET": "90", "LMSDATA_STALE_SYNC_HOURS": "12", "OTHER": "x"})
    assert (t.match_target, t.stale_sync_hours, t.stuck_setup_days) == (90.0, 12.0, 7.0)
    assert Thresholds.from_env({}) == Thresholds()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LMSDATA_MATCH_TARGET": "ninety"}, "LMSDATA_MATCH_TARGET must be a number"),
        ({"LMSDATA_MATCH_TARGET": "120"}, "percentage"),
        ({"LMSDATA_STALE_SYNC_HOURS": "-1"}, "LMSDATA_STALE_SYNC_HOURS must not be negative"),
        ({"LMSDATA_FAILED_PUSHES_ALERT": "2.5"}, "whole number"),
    ],
)
def test_bad_threshold_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Thresholds.from_env(env)


def test_matched_percentages_prefers_clever_then_counts() -> None:
    pct = matched_percentages(row(matched_teachers=None, teachers=0, matched_sections=None))
    assert pct == {"students": 98.0, "teachers": None, "sections": 97.0}


def snapshot(district_id: str, pulled_at: str, state: str | None, students: float | None = 98.0, **kw: Any) -> dict:
    return {
        "district_id": district_id,
        "pulled_at": pulled_at,
        "lms_type": kw.get("lms_type", "canvas"),
        "lms_state": state,
        "matched_students": students,
        "matched_teachers": kw.get("teachers", 100.0),
        "matched_sections": kw.get("sections", 95.0),
    }


HISTORY = [
    snapshot("d1", "2026-11-03T00:00:00Z", "success"),
    snapshot("d2", "2026-11-01T00:00:00Z", None, None, lms_type=None),
    snapshot("d1", "2026-11-01T00:00:00Z", "matching_in_progress", 60.0),
    snapshot("d1", "2026-11-05T00:00:00Z", "success", 96.0),  # a 2-point dip: not a transition
    snapshot("d1", "2026-11-07T00:00:00Z", "error", 80.0, sections=70.0),
    snapshot("d2", "2026-11-02T00:00:00Z", "", None, lms_type=""),  # null → "": same state
    snapshot("d2", "2026-11-04T00:00:00Z", "pending_authorization", None, lms_type="schoology"),
]


def test_transitions_find_state_changes_and_drops_in_time_order() -> None:
    found = [(t.district_id, t.at[:10], t.kind, t.before, t.after, t.regression) for t in transitions(HISTORY)]
    assert found == [
        ("d1", "2026-11-03", "lms_state", "matching_in_progress", "success", False),
        ("d2", "2026-11-04", "lms_state", "", "pending_authorization", False),
        ("d2", "2026-11-04", "lms_type", "", "schoology", False),
        ("d1", "2026-11-07", "lms_state", "success", "error", True),
        ("d1", "2026-11-07", "matched_students_drop", 96.0, 80.0, True),
        ("d1", "2026-11-07", "matched_sections_drop", 95.0, 70.0, True),
    ]


def test_transition_summaries_read_as_plain_words() -> None:
    summaries = [t.summary for t in transitions(HISTORY)]
    assert "LMS state not connected → pending authorization" in summaries
    assert "Matched students fell from 96% to 80%" in summaries


def test_drop_threshold_is_configurable() -> None:
    kinds = [t.kind for t in transitions(HISTORY, thresholds=Thresholds(match_drop_points=1))]
    assert kinds.count("matched_students_drop") == 2  # the 2-point dip now counts too


def test_state_since_feeds_stuck_detection() -> None:
    since = state_since(HISTORY)
    assert since == {"d1": "2026-11-07T00:00:00Z", "d2": "2026-11-04T00:00:00Z"}
    stuck = assess(row(lms_state="pending_authorization", lms_state_since=since["d2"]), now=NOW)
    assert stuck.status == "action_needed"


# Every live problem is a reason: (case, row, expected reason kinds most urgent first, figure of the first).
REASON_CASES: list[tuple[str, dict[str, Any], list[str], str]] = [
    ("healthy has none", row(), [], ""),
    (
        "stale sync and failed pushes both show (Gary)",
        row(
            last_lms_sync=TEN_DAYS_AGO,
            failed_pushes=6,
            failed_by_category={"assignment_not_created": 4, "student_not_matched": 2},
        ),
        ["failed_pushes", "failed_pushes", "stale_sync"],
        "4 grade pushes failed: ",
    ),
    (
        "74 % matched students is said (Brattleboro)",
        row(matched_students=74.0, unmatched_students=260),
        ["unmatched_students"],
        "74% of students matched (target 95%): 260 students not matched.",
    ),
    (
        "an SIS error is shown on a connected district",
        row(sis_error="SIS credentials rejected"),
        ["sis_error"],
        "Clever reports an SIS sync error: SIS credentials rejected",
    ),
    (
        "an SIS error follows a not-connected district's own reason (Burlington)",
        row(lms_state=None, sis_error="SFTP upload missing"),
        ["not_connected", "sis_error"],
        "LMS Connect is not set up",
    ),
    (
        "an SIS error while awaiting authorization follows the setup, it is not 'Not connected'",
        row(lms_state="pending_authorization", lms_state_since=TWO_DAYS_AGO, sis_error="SFTP upload missing"),
        ["setting_up", "sis_error"],
        "Waiting for authorization for 2 days.",
    ),
    (
        "three problems at once: stale, teachers and sections below target",
        row(
            last_lms_sync=OLD, matched_teachers=60.0, unmatched_teachers=20, matched_sections=80.0, unsynced_sections=40
        ),
        ["stale_sync", "unmatched_teachers", "unsynced_sections"],
        "Clever last received LMS data 4 days ago (limit 48 h).",
    ),
    (
        "failed pushes while matching follow the setup's owner",
        row(lms_state="matching_in_progress", failed_pushes=1),
        ["setting_up", "failed_pushes"],
        "Clever is matching LMS records",
    ),
    (
        "stuck setup is its own kind",
        row(lms_state="initial_sync_processing", lms_state_since=TEN_DAYS_AGO),
        ["stuck_setup"],
        "Clever has been reading the LMS for 10 days (limit 7).",
    ),
    (
        "a refused pull is a sync error",
        row(last_sync_error="401 Unauthorized"),
        ["sync_error"],
        "Clever refused our access to this district: 401 Unauthorized",
    ),
]


@pytest.mark.parametrize(("case", "district", "kinds", "figure"), REASON_CASES, ids=[c[0] for c in REASON_CASES])
def test_reasons_table(case: str, district: dict[str, Any], kinds: list[str], figure: str) -> None:
    health = assess(district, now=NOW)
    assert [r.kind for r in health.reasons] == kinds
    if kinds:
        assert health.reasons[0].figure.startswith(figure)
        assert [urgency(r.status) for r in health.reasons] == sorted(urgency(r.status) for r in health.reasons)
        assert all(r.next_step and r.owner in OWNERS and r.status in STATUS_BY_NAME for r in health.reasons)


@pytest.mark.parametrize(
    ("state", "since", "connection"),
    [("pending_authorization", TWO_DAYS_AGO, ("setting_up", "setting_up")),
     ("pending_authorization", TEN_DAYS_AGO, ("stuck_setup", "action_needed")),
     ("initial_sync_processing", TWO_DAYS_AGO, ("setting_up", "setting_up")),
     ("matching_in_progress", TEN_DAYS_AGO, ("stuck_setup", "action_needed")),
     ("error", None, ("lms_error", "action_needed")),
     ("disconnected", None, ("lms_disconnected", "action_needed")),
     ("paused", None, ("unknown_lms_state", "action_needed")),
     ("success", None, None),
     (None, None, ("not_connected", "not_connected"))],
)  # fmt: skip
def test_an_sis_error_shows_once_with_the_status_of_the_connection(
    state: str | None, since: str | None, connection: tuple[str, str] | None
) -> None:
    health = assess(row(lms_state=state, lms_state_since=since, sis_error="SFTP upload missing"), now=NOW)
    found = [(r.kind, r.status) for r in health.reasons]
    expected_sis = ("sis_error", connection[1] if connection else "stale")
    assert found == ([connection] if connection else []) + [expected_sis]
    if is_connected(row(lms_state=state)):  # a connected district is never said to be "Not connected"
        assert "not_connected" not in {status for _, status in found}


def test_failed_pushes_by_category_take_the_category_owner_and_step() -> None:
    health = assess(row(failed_pushes=3, failed_by_category={"section_not_synced": 3}), now=NOW)
    (reason,) = health.reasons
    category = Category.SECTION_NOT_SYNCED
    assert (reason.detail, reason.owner, reason.next_step) == ("section_not_synced", category.owner, category.next_step)
    assert reason.figure == f"3 grade pushes failed: {category.label}."


@pytest.mark.parametrize(("count", "noun", "text"), [(1, "district", "1 district"), (2, "district", "2 districts"),
                                                     (0, "record", "0 records"), (1, "grade push", "1 grade push"),
                                                     (3, "grade push", "3 grade pushes"),
                                                     (1200, "push", "1,200 pushes")])  # fmt: skip
def test_plural(count: int, noun: str, text: str) -> None:
    assert plural(count, noun) == text


def test_possessive_and_lms_names() -> None:
    assert possessive("Burlington County Schools") == "Burlington County Schools'"
    assert possessive("Gary ISD") == "Gary ISD's"
    assert [lms_name(t) for t in ("google_classroom", "canvas", "schoology", None, "moodle")] == [
        "Google Classroom", "Canvas", "Schoology", "", "Moodle"]  # fmt: skip


def test_healthy_share_counts_connected_districts_only() -> None:
    rows = [{"lms_state": "success", "health": "healthy"}, {"lms_state": "success", "health": "stale"},
            {"lms_state": "", "health": "not_connected"}, {"lms_state": None, "health": "not_connected"}]  # fmt: skip
    assert healthy_share(rows) == (1, 2)


@pytest.mark.parametrize(("lms_state", "connected"), [
    ("success", True), ("matching_in_progress", True), ("pending_authorization", True), ("error", True),
    ("", False), ("  ", False), (None, False),
])  # fmt: skip
def test_one_meaning_of_connected(lms_state: str | None, connected: bool) -> None:
    """The Overview's "Connected" and "Healthy" figures share it (`healthy_share` counts the same districts)."""
    row = {"lms_state": lms_state, "health": "healthy"}
    assert is_connected(row) is connected and healthy_share([row]) == ((1, 1) if connected else (0, 0))


def test_our_next_steps_have_no_markdown_backticks() -> None:
    """Next steps are shown in table cells and escaped text, where a backtick shows as it is."""
    rows = [row(lms_state="", lms_type=""), row(last_sync_error="HTTP 400 Bad Request")]
    steps = [r.next_step for district in rows for r in assess(district, now=NOW).reasons]
    steps += [c.next_step for c in Category]
    assert len(steps) > len(Category) and not [s for s in steps if "`" in s]
