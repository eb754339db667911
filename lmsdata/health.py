"""District health: one set of rules that the CLI, `lmsdata status` and the dashboard all share.

Pure functions over cache rows (no IO, `now` injected) so every rule is tested case by case.
Each rule that fires yields a `Reason` (kind, status, owner, next step, the figure behind it); the
most urgent reason decides the district's status, and every reason is kept so nothing is hidden.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from lmsdata import inputs
from lmsdata.config import ConfigError
from lmsdata.pushes.taxonomy import Category
from lmsdata.wording import lms_name, plural


@dataclass(frozen=True)
class Status:
    name: str
    label: str
    colour: str
    meaning: str


# Ordered by urgency: the first is the most urgent.
STATUSES: tuple[Status, ...] = (
    Status("action_needed", "Action needed", "#d62728", "Someone must act before grades can flow."),
    Status("stale", "Stale", "#ff7f0e", "Connected, but the data is out of date."),
    Status("below_target", "Matching below target", "#e3b505", "Connected; too few records matched."),
    Status("setting_up", "Setting up", "#1f77b4", "LMS Connect is being set up; progressing normally."),
    Status("not_connected", "Not connected", "#7f7f7f", "LMS Connect is not set up for this district."),
    Status("healthy", "Healthy", "#2ca02c", "Connected, fresh and matched: grade passback works."),
)
STATUS_BY_NAME: dict[str, Status] = {s.name: s for s in STATUSES}

OWNERS: dict[str, str] = {
    "district": "District",
    "clever_support": "Clever support",
    "partner": "Us (partner)",
    "nobody": "Nobody (wait)",
}

KNOWN_LMS_STATES = (
    "success",
    "matching_in_progress",
    "initial_sync_processing",
    "pending_authorization",
    "error",
    "disconnected",
)
KNOWN_LMS_TYPES = ("canvas", "schoology", "google_classroom")
MATCH_KINDS = ("students", "teachers", "sections")

# Prefix of the environment variables that override a threshold, e.g. LMSDATA_MATCH_TARGET=90.
_ENV_PREFIX = "LMSDATA_"


@dataclass(frozen=True)
class Thresholds:
    """Every number the rules compare against; override with LMSDATA_<FIELD NAME IN CAPITALS>."""

    match_target: float = 95.0  # % of students, teachers and sections that must be matched
    stale_sync_hours: float = 48.0  # last_lms_sync older than this means Clever's LMS data is stale
    stuck_setup_days: float = 7.0  # days in a setup state before it counts as stuck
    failed_pushes_alert: int = 1  # this many failed grade pushes need someone's attention
    match_drop_points: float = 5.0  # a fall of more than this many points is a transition
    unmatched_growth: int = 10  # this many more unmatched students than earlier in the day: an alert

    def __post_init__(self) -> None:
        for f in fields(self):
            _checked_threshold(f.name, f.type, getattr(self, f.name))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Thresholds:
        """Read overrides from the environment (or any mapping, e.g. flattened Streamlit secrets)."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(_env_name(f.name), "").strip()
            if not raw:
                continue
            values[f.name] = _checked_threshold(f.name, f.type, raw)
        return cls(**values)


# The largest sensible value of each threshold and its unit: a year of hours or days, a million pushes.
_THRESHOLD_RANGE: dict[str, tuple[float, str]] = {
    "match_target": (100, "percentage points"),
    "stale_sync_hours": (24 * 365, "hours"),
    "stuck_setup_days": (365, "days"),
    "failed_pushes_alert": (1_000_000, "failed pushes"),
    "match_drop_points": (100, "percentage points"),
    "unmatched_growth": (10_000_000, "students"),
}


def _checked_threshold(name: str, kind: object, value: object) -> Any:
    """The threshold as a number in its range (finite: `nan`, `1e999` are refused), or ConfigError."""
    high, unit = _THRESHOLD_RANGE[name]
    try:
        if kind in ("int", int):
            return inputs.whole_number(_env_name(name), value, low=0, high=int(high), unit=unit)
        return inputs.number(_env_name(name), value, low=0, high=high, unit=unit)
    except inputs.InputError as exc:
        if _negative(value):
            raise ConfigError(f"{_env_name(name)} must not be negative, got {value}") from None
        raise ConfigError(str(exc)) from None


def _negative(value: object) -> bool:
    try:
        return float(str(value)) < 0
    except ValueError:
        return False


def _env_name(field_name: str) -> str:
    return _ENV_PREFIX + field_name.upper()


class _Labelled:
    """The words for a verdict's `status` and `owner`."""

    status: str
    owner: str

    @property
    def label(self) -> str:
        return STATUS_BY_NAME[self.status].label

    @property
    def owner_label(self) -> str:
        return OWNERS[self.owner]


@dataclass(frozen=True)
class Reason(_Labelled):
    """One live problem of a district: what it is, the status it implies, who acts and how."""

    kind: str  # stale_sync | unmatched_students | sis_error | failed_pushes | not_connected | ... (see docs)
    status: str  # the STATUSES name this problem alone implies
    owner: str  # district | clever_support | partner | nobody
    next_step: str
    figure: str  # the fact behind it, in words, e.g. "Clever last received LMS data 8 days ago (limit 48 h)."
    detail: str = ""  # a sub-kind where one exists, e.g. the failure category of failed pushes


@dataclass(frozen=True)
class Health(_Labelled):
    status: str
    owner: str  # district | clever_support | partner | nobody
    next_step: str
    reasons: list[Reason] = field(default_factory=list)  # every live problem, most urgent first
    notes: list[str] = field(default_factory=list)  # facts worth showing that change nothing

    @property
    def colour(self) -> str:
        return STATUS_BY_NAME[self.status].colour

    @property
    def explanation(self) -> list[str]:
        """Every reason's figure, then the notes: the whole story in sentences."""
        return [r.figure for r in self.reasons] + self.notes


_URGENCY = {s.name: i for i, s in enumerate(STATUSES)}


def is_connected(row: Mapping[str, Any]) -> bool:
    """The one meaning of "connected": the district has LMS Connect, in any lms_state (fully set up,
    still matching, pending or in error); a district Clever reports no lms_state for has never connected."""
    return bool((row.get("lms_state") or "").strip())


def healthy_share(rows: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(healthy, connected) over status rows (`lms_state`, `health`): the Overview's "Healthy" counts
    only connected districts (`is_connected`), so districts never connected do not dilute it."""
    connected = [r for r in rows if is_connected(r)]
    return sum(r.get("health") == "healthy" for r in connected), len(connected)


def urgency(status: str) -> int:
    """Sort key: 0 is the most urgent status."""
    return _URGENCY.get(status, len(STATUSES))


# A pull refused for authorization: the district removed the app or its token was revoked.
_REVOKED = re.compile(
    r"revoked|invalid[_ ]token|unauthori[sz]ed|forbidden|\b40[13]\b|no (clever |district )?token", re.I
)
# A pull that failed for a reason the next sync will probably not have.
_TRANSIENT = re.compile(
    r"\b(429|50[0234])\b|rate.?limit|timed? ?out|timeout|connection|temporar|unavailable"
    r"|try again later|did not answer",
    re.I,
)


def assess(district_row: Mapping[str, Any], *, now: datetime, thresholds: Thresholds | None = None) -> Health:
    """The district's health from its cache row (districts columns plus `failed_pushes`).

    An optional `lms_state_since` (ISO time the current lms_state was first seen, see
    `state_since`) lets the rules tell a setup that is progressing from one that is stuck;
    optional `invitation_state`, `invitation_email` and `invitation_sent_at` (the district's
    latest invitation, see `lmsdata.invitations.latest_invitations`) say who acts on a district
    that is not connected.
    Without `thresholds`, the LMSDATA_* environment variables (or the defaults) apply.
    """
    t = thresholds or Thresholds.from_env()
    row = district_row
    connection = _lms_state_findings(row, now, t)
    problems = [
        *_sync_error_findings(row),
        *connection,
        *_freshness_findings(row, now, t),
        *_matching_findings(row, t),
    ]
    problems += _sis_error_findings(row, connection)
    problems += _push_findings(row, t, problems)
    notes = _notes(row)
    if not problems:
        notes = notes or ["Connected and matched."]
        return Health("healthy", "nobody", "Nothing to do: grade passback works.", [], notes)
    ranked = sorted(problems, key=lambda r: urgency(r.status))  # stable: rule order breaks ties
    top = ranked[0]
    return Health(top.status, top.owner, top.next_step, ranked, notes)


def _state(row: Mapping[str, Any]) -> str:
    return normal_state(row.get("lms_state"))


def normal_state(value: Any) -> str:
    """An lms_state as the rules compare it: None, empty and blank are all "" (never connected)."""
    return (value or "").strip()


def _sync_error_findings(row: Mapping[str, Any]) -> list[Reason]:
    error = (row.get("last_sync_error") or "").strip()
    if not error:
        return []
    short = _shorten(error)
    if _REVOKED.search(error):
        return [
            Reason(
                "sync_error",
                "action_needed",
                "district",
                "Ask the district admin to re-authorize this app in their Clever district dashboard "
                "(Applications → this app); Clever refuses our access token until they do.",
                f"Clever refused our access to this district: {short}",
            )
        ]
    if _TRANSIENT.search(error):
        return [
            Reason(
                "sync_error",
                "stale",
                "nobody",
                "Nothing yet: the next sync retries. If pulls keep failing for a day, check "
                "status.clever.com and contact Clever support.",
                f"The last pull from Clever failed (temporary): {short}",
            )
        ]
    return [
        Reason(
            "sync_error",
            "stale",
            "partner",
            # our own next steps are plain text (table cells and escaped text show backticks as they are)
            "Our last pull of this district failed: run 'lmsdata sync --district "
            f"{row.get('id', 'ID')}' and, if it fails again, send the error to our engineers.",
            f"The last pull from Clever failed: {short}",
        )
    ]


def _lms_state_findings(row: Mapping[str, Any], now: datetime, t: Thresholds) -> list[Reason]:
    state = _state(row)
    days = _age_days(row.get("lms_state_since"), now)
    stuck = days is not None and days > t.stuck_setup_days
    since = f" for {days:.0f} days" if days is not None else ""
    if state == "":
        return [_not_connected(row)]
    if state == "success":
        return []
    if state == "pending_authorization":
        return [
            Reason(
                "stuck_setup" if stuck else "setting_up",
                "action_needed" if stuck else "setting_up",
                "partner",
                "Approve the district's LMS Connect request in the Clever App Dashboard; if it is "
                "approved already, remind the district admin to authorize their LMS in Clever.",
                f"Waiting for authorization{since}" + (" (stuck)." if stuck else "."),
            )
        ]
    if state in ("initial_sync_processing", "matching_in_progress"):
        doing = "reading the LMS" if state == "initial_sync_processing" else "matching LMS records"
        if stuck:
            return [
                Reason(
                    "stuck_setup",
                    "action_needed",
                    "clever_support",
                    f"Open a ticket with Clever support: {doing} has taken {days:.0f} days. "
                    "Include the district id and ask the district to join the ticket.",
                    f"Clever has been {doing} for {days:.0f} days (limit {t.stuck_setup_days:g}).",
                )
            ]
        return [
            Reason(
                "setting_up",
                "setting_up",
                "nobody",
                f"Wait: Clever is {doing}. No action unless this lasts more than {t.stuck_setup_days:g} days.",
                f"Clever is {doing}{since}.",
            )
        ]
    if state == "error":
        return [
            Reason(
                "lms_error",
                "action_needed",
                "clever_support",
                "Open a ticket with Clever support about the district's LMS connection error "
                "(include the district id); grade passback is blocked until it is fixed.",
                "Clever reports an error on the district's LMS connection (lms_state error).",
            )
        ]
    if state == "disconnected":
        return [
            Reason(
                "lms_disconnected",
                "action_needed",
                "district",
                "Ask the district admin to reconnect their LMS in the Clever district dashboard "
                "(LMS Connect), or confirm that they stopped using it.",
                "The district disconnected its LMS from Clever (lms_state disconnected).",
            )
        ]
    return [
        Reason(
            "unknown_lms_state",
            "action_needed",
            "partner",
            f"Clever reported an lms_state this tool does not know ({state!r}): check Clever's "
            "changelog and ask our engineers to add a rule for it.",
            f"Unknown lms_state {state!r}.",
        )
    ]


def _not_connected(row: Mapping[str, Any]) -> Reason:
    """Who acts on a district without LMS Connect depends on where its invitation stands."""
    reason = "LMS Connect is not set up for this district (lms_state is empty)."
    invited = row.get("invitation_state")
    email = row.get("invitation_email") or "the contact"
    sent = str(row.get("invitation_sent_at") or "")[:10]
    if invited in ("sending", "sent"):
        return Reason(
            "not_connected",
            "not_connected",
            "district",
            f"Wait for the district to connect: an invitation went to {email}"
            + (f" on {sent}" if sent else "")
            + ". Resend it if they did not get it.",
            reason + " An invitation is open.",
        )
    if invited in ("failed", "expired"):
        what = "could not be sent" if invited == "failed" else "expired without an answer"
        return Reason(
            "not_connected",
            "not_connected",
            "partner",
            f"The last invitation to {email} {what}: check the address with the district and resend it.",
            reason + f" The last invitation {what}.",
        )
    return Reason(
        "not_connected",
        "not_connected",
        "partner",
        f"Send the district an LMS Connect invitation ('lmsdata invite {row.get('id', 'ID')}' "
        "or the Invitations page).",
        reason,
    )


def _freshness_findings(row: Mapping[str, Any], now: datetime, t: Thresholds) -> list[Reason]:
    if _state(row) != "success":
        return []
    raw = row.get("last_lms_sync")
    hours = _age_hours(raw, now)
    if hours is None or hours <= t.stale_sync_hours:
        return []
    return [
        Reason(
            "stale_sync",
            "stale",
            "clever_support",
            "Ask Clever support why they have not received data from the district's LMS since "
            f"{str(raw)[:10]}; the district may need to re-authorize its LMS in Clever.",
            f"Clever last received LMS data {_duration(hours)} ago (limit {t.stale_sync_hours:g} h).",
        )
    ]


def matched_percentages(row: Mapping[str, Any]) -> dict[str, float | None]:
    """Clever's matched percentages, or ones computed from the cached counts when not reported."""
    result: dict[str, float | None] = {}
    for kind in MATCH_KINDS:
        reported = row.get(f"matched_{kind}")
        if reported is not None:
            result[kind] = float(reported)
            continue
        total = row.get(kind) or 0
        unmatched = row.get("unsynced_sections" if kind == "sections" else f"unmatched_{kind}")
        result[kind] = 100.0 * (total - unmatched) / total if total and unmatched is not None else None
    return result


_MATCH_KIND_REASON = {
    "students": "unmatched_students",
    "teachers": "unmatched_teachers",
    "sections": "unsynced_sections",
}

_UNMATCHED_LIST = {
    "students": "unmatched users (students)",
    "teachers": "unmatched users (teachers)",
    "sections": "sections not synced in the LMS",
}


def _matching_findings(row: Mapping[str, Any], t: Thresholds) -> list[Reason]:
    """One reason per kind of record matched below target, so 74 % of students is said as such."""
    if _state(row) != "success":
        return []
    reasons = []
    for kind, pct in matched_percentages(row).items():
        if pct is None or pct >= t.match_target:
            continue
        count = row.get("unsynced_sections" if kind == "sections" else f"unmatched_{kind}")
        what = "synced in the LMS" if kind == "sections" else "matched"
        reasons.append(
            Reason(
                _MATCH_KIND_REASON[kind],
                "below_target",
                "district",
                f"Send the district the list of {_UNMATCHED_LIST[kind]} (Unmatched page): their e-mails or SIS ids "
                "must agree between SIS and LMS; Clever support helps them match.",
                f"{pct:.0f}% of {kind} {what} (target {t.match_target:g}%)"
                + (f": {plural(count, kind[:-1])} not {what}." if count else "."),
            )
        )
    return reasons


def _sis_error_findings(row: Mapping[str, Any], connection: Sequence[Reason]) -> list[Reason]:
    """An SIS sync error at Clever: rosters stop updating, so new students never reach the LMS.

    It makes a connected district stale; elsewhere the connection's reason (`connection`, from
    `_lms_state_findings`) leads and this one takes its status: a district setting up is "Setting up"
    twice, not also "Not connected" (that status was once given to every non-success state).
    """
    error = (row.get("sis_error") or "").strip()
    if not error:
        return []
    return [
        Reason(
            "sis_error",
            connection[0].status if connection else "stale",
            "district",
            "Ask the district admin to fix their SIS sync in their Clever district dashboard (Sync page); "
            "until then new students and sections do not reach Clever or the LMS.",
            f"Clever reports an SIS sync error: {_shorten(error)}",
        )
    ]


def _push_findings(row: Mapping[str, Any], t: Thresholds, problems: Sequence[Reason]) -> list[Reason]:
    """Failed pushes, one reason per failure category when `failed_by_category` is in the row.

    Where the LMS connection does not work, it is the cause: the failures follow its reason's
    status and owner, and are retried once it works.
    """
    failed = int(row.get("failed_pushes") or 0)
    if t.failed_pushes_alert <= 0 or failed < t.failed_pushes_alert:
        return []
    connection = next((r for r in problems if r.kind not in ("sis_error", "sync_error")), None)
    if _state(row) != "success" and connection is not None:
        return [
            Reason(
                "failed_pushes",
                connection.status,
                connection.owner,
                "Retry them once the LMS connection works: " + connection.next_step,
                f"{plural(failed, 'grade push')} failed because the LMS connection is not ready.",
            )
        ]
    by_category: Mapping[str, int] = row.get("failed_by_category") or {}
    if not by_category:
        return [
            Reason(
                "failed_pushes",
                "action_needed",
                "partner",
                f"Review the {plural(failed, 'failed grade push')} on the Failed pushes page: retry the "
                "ones marked ready, pass the rest to the owner each one names.",
                f"{plural(failed, 'grade push')} failed.",
            )
        ]
    reasons = []
    for slug, count in sorted(by_category.items(), key=lambda item: (-item[1], item[0] or "")):
        category = _category(slug)
        reasons.append(
            Reason(
                "failed_pushes",
                "action_needed",
                category.owner if category else "partner",
                category.next_step if category else "Review these pushes on the Failed pushes page.",
                f"{plural(count, 'grade push')} failed: {category.label if category else slug or 'not classified'}.",
                detail=slug or "",
            )
        )
    return reasons


def _category(slug: str | None) -> Category | None:
    try:
        return Category.from_slug(slug) if slug else None
    except ValueError:
        return None


def _notes(row: Mapping[str, Any]) -> list[str]:
    """Facts worth showing that do not change the status."""
    notes = []
    lms_type = (row.get("lms_type") or "").strip()
    if _state(row) == "success":
        if lms_type == "google_classroom":
            notes.append("Google Classroom: LTI launch is not available (expected, not an error).")
        elif lms_type and lms_type not in KNOWN_LMS_TYPES:
            notes.append(f"Unknown LMS type {lms_type!r}.")
        elif not lms_type:
            notes.append("Clever does not say which LMS this district uses.")
        if row.get("last_lms_sync") is None:
            notes.append("Clever does not report last_lms_sync (an opt-in field): freshness unknown.")
        elif _age_hours(row.get("last_lms_sync"), None) is None:
            notes.append(f"last_lms_sync is unreadable ({row.get('last_lms_sync')!r}).")
    return notes


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from Clever's ISO strings (…Z), or None if absent or unreadable."""
    if isinstance(value, datetime):
        return value
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _age_hours(value: Any, now: datetime | None) -> float | None:
    at = parse_time(value)
    if at is None:
        return None
    if now is None:
        return 0.0
    return (now - at).total_seconds() / 3600


def _age_days(value: Any, now: datetime) -> float | None:
    hours = _age_hours(value, now)
    return None if hours is None else hours / 24


def _duration(hours: float) -> str:
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Transition:
    district_id: str
    at: str  # pulled_at of the snapshot where the change was first seen
    kind: str  # lms_state | lms_type | matched_students_drop | matched_teachers_drop | matched_sections_drop
    before: Any
    after: Any
    summary: str
    regression: bool  # True when things got worse (shown in red)


_STATE_RANK = {
    "": 0,
    "pending_authorization": 1,
    "initial_sync_processing": 2,
    "matching_in_progress": 3,
    "success": 4,
}


def transitions(history_rows: Sequence[Mapping[str, Any]], *, thresholds: Thresholds | None = None) -> list[Transition]:
    """Changes between consecutive snapshots of each district, oldest first."""
    t = thresholds or Thresholds.from_env()
    found: list[Transition] = []
    for district_id, rows in _by_district(history_rows).items():
        for before, after in pairwise(rows):
            found.extend(_changes(district_id, before, after, t))
    found.sort(key=lambda tr: (tr.at, tr.district_id))
    return found


def state_since(history_rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """For each district, when its current lms_state was first seen (feeds `lms_state_since`)."""
    since: dict[str, str] = {}
    for district_id, rows in _by_district(history_rows).items():
        current = _state(rows[-1])
        start = rows[-1]["pulled_at"]
        for row in reversed(rows):
            if _state(row) != current:
                break
            start = row["pulled_at"]
        since[district_id] = start
    return since


def _by_district(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["district_id"], []).append(row)
    for group in grouped.values():
        group.sort(key=lambda r: (r["pulled_at"], r.get("id") or 0))
    return grouped


def _changes(district_id: str, before: Mapping[str, Any], after: Mapping[str, Any], t: Thresholds) -> list[Transition]:
    at = after["pulled_at"]
    changes: list[Transition] = []
    old_state, new_state = _state(before), _state(after)
    if old_state != new_state:
        regression = new_state in ("error", "disconnected") or (
            old_state in _STATE_RANK and new_state in _STATE_RANK and _STATE_RANK[new_state] < _STATE_RANK[old_state]
        )
        changes.append(
            Transition(
                district_id,
                at,
                "lms_state",
                old_state,
                new_state,
                f"LMS state {_state_name(old_state)} → {_state_name(new_state)}",
                regression,
            )
        )
    old_type, new_type = (before.get("lms_type") or ""), (after.get("lms_type") or "")
    if old_type != new_type:
        changes.append(
            Transition(
                district_id,
                at,
                "lms_type",
                old_type,
                new_type,
                f"LMS changed from {lms_name(old_type) or 'none'} to {lms_name(new_type) or 'none'}",
                bool(old_type),
            )
        )
    for kind in MATCH_KINDS:
        old, new = before.get(f"matched_{kind}"), after.get(f"matched_{kind}")
        if old is not None and new is not None and old - new > t.match_drop_points:
            changes.append(
                Transition(
                    district_id,
                    at,
                    f"matched_{kind}_drop",
                    old,
                    new,
                    f"Matched {kind} fell from {old:.0f}% to {new:.0f}%",
                    True,
                )
            )
    return changes


def _state_name(state: str) -> str:
    """An lms_state in words ('matching_in_progress' → 'matching in progress')."""
    return state.replace("_", " ") if state else "not connected"
