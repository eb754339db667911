"""Term rollover readiness: is each district's current (and next) term set up for grade passback?

New terms break passback at scale: new sections are not yet synced in the LMS and their students not
matched. `grade_term` is the one verdict; `district_readiness` reads the cache; `as_health_reason`
is the adapter the health reasons and the worker's alert rule ("new-term sections still unmatched
N days after the term started") plug in at merge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import sqlite_utils

READY, AT_RISK, NOT_READY = "ready", "at risk", "not ready"
RISK_ORDER = {NOT_READY: 0, AT_RISK: 1, READY: 2}
READY_SHARE = 0.95      # of sections synced and of their students matched
GRACE_DAYS = 7          # days after a term starts before unsynced sections are "not ready"
LOOKAHEAD_DAYS = 14     # a next term this close is graded too


@dataclass(frozen=True)
class TermFigures:
    """What the cache says about one term: its dates and how far its sections got into the LMS."""

    term_id: str | None
    name: str | None
    start: date | None
    end: date | None
    sections: int = 0
    synced_sections: int = 0
    students: int | None = 0  # None: not counted (`term_figures_by_district` with `today`, a term not graded)
    matched_students: int | None = 0

    @property
    def synced_share(self) -> float | None:
        return self.synced_sections / self.sections if self.sections else None

    @property
    def matched_share(self) -> float | None:
        return (self.matched_students or 0) / self.students if self.students else None


@dataclass(frozen=True)
class TermReadiness:
    district_id: str
    grade: str
    reason: str
    owner: str          # district | teachers | support | none
    next_step: str
    current: TermFigures | None
    next: TermFigures | None
    days_since_start: int | None


def _parse(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def current_and_next(terms: list[TermFigures], today: date) -> tuple[TermFigures | None, TermFigures | None]:
    """The current term (covering today; of overlapping ones, the latest started) and the next to start."""
    covering = [t for t in terms if t.start and t.start <= today and (t.end is None or today <= t.end)]
    upcoming = [t for t in terms if t.start and t.start > today]
    current = max(covering, key=lambda t: (t.start, t.term_id or ""), default=None)
    following = min(upcoming, key=lambda t: (t.start, t.term_id or ""), default=None)
    return current, following


def grade_term(
    district_id: str, terms: list[TermFigures], today: date, *, grace_days: int = GRACE_DAYS
) -> TermReadiness:
    """The one readiness verdict for a district's terms on `today`."""
    current, following = current_and_next(terms, today)
    days = (today - current.start).days if current and current.start else None

    def verdict(grade: str, reason: str, owner: str, next_step: str) -> TermReadiness:
        return TermReadiness(district_id, grade, reason, owner, next_step, current, following, days)

    undated = [t for t in terms if t.start is None or t.end is None]
    if current is None and following is None:
        if undated:
            return verdict(AT_RISK, f"{len(undated)} term(s) without start or end dates", "district",
                           "Ask the district to set term dates in their SIS so Clever can place the term.")
        return verdict(AT_RISK, "no current or upcoming term in Clever", "district",
                       "Ask the district to roll their SIS over to the new term.")
    graded = current if current is not None else following
    assert graded is not None
    if current is None and graded.start and (graded.start - today).days > LOOKAHEAD_DAYS:
        return verdict(READY, f"next term starts {graded.start.isoformat()}; nothing to prepare yet", "none", "")
    if not graded.sections:
        grade = NOT_READY if current is not None else AT_RISK
        return verdict(grade, f"term {graded.name or graded.term_id} has no sections in Clever", "district",
                       "Ask the district to sync the new term's sections from their SIS.")
    synced = graded.synced_share or 0.0
    matched = graded.matched_share if graded.matched_share is not None else 1.0
    if synced >= READY_SHARE and matched >= READY_SHARE:
        return verdict(READY, f"{synced:.0%} of sections synced, {matched:.0%} of their students matched",
                       "none", "")
    unsynced = graded.sections - graded.synced_sections
    what = (f"{unsynced} of {graded.sections} sections not synced in the LMS" if synced < READY_SHARE
            else f"only {matched:.0%} of the term's students matched")
    if days is not None and days > grace_days:
        return verdict(NOT_READY, f"{what} {days} days after the term started", "teachers",
                       "Ask the district admin to have teachers create their LMS courses and match rosters.")
    when = f"term started {days} day(s) ago" if days is not None else "term has not started yet"
    return verdict(AT_RISK, f"{what}; {when}", "teachers",
                   "Remind the district that teachers must create and link their new-term courses.")


# Per term of every district (or of ?1): its sections. The temporary index SQLite builds on sections.term_id
# is built once for all districts (asked per district, it was built 520 times: 24 s on `large`'s roster).
_TERMS = """
SELECT t.id, t.district_id, t.name, t.start_date, t.end_date, COUNT(s.id), COALESCE(SUM(s.synced_in_lms = 1), 0)
FROM terms t LEFT JOIN sections s ON s.term_id = t.id WHERE ?1 IS NULL OR t.district_id = ?1 GROUP BY t.id
"""
# Students and matched students of the terms in the JSON list ?1: (term, student) pairs are made distinct
# before the users are looked up, so a student in four sections of a term costs one lookup; sections are
# read, then each one's members through the section_users primary key, in key order.
_STUDENTS = """
WITH pairs AS (SELECT DISTINCT s.term_id, su.user_id FROM sections s CROSS JOIN section_users su ON su.section_id = s.id
               WHERE s.term_id IN (SELECT value FROM json_each(?1)) AND su.role = 'student')
SELECT p.term_id, COUNT(*), SUM(u.synced_in_lms = 1) FROM pairs p LEFT JOIN users u ON u.id = p.user_id
GROUP BY p.term_id
"""


def term_figures_by_district(db: sqlite_utils.Database, district_id: str | None = None, *,
                             today: date | None = None) -> dict[str, list[TermFigures]]:
    """Every term of every district (or of `district_id`) with its section and matched-student counts.

    Counting students is the expensive part (millions of memberships on `large`); with `today`, only the
    term `grade_term` grades on that day (the current one, else the next) is counted, the others have
    `students` None: the verdict is the same, in half the time when districts have two terms.
    """
    terms: dict[str, list[TermFigures]] = {}
    for r in db.execute(_TERMS, [district_id]).fetchall():
        terms.setdefault(r[1], []).append(TermFigures(r[0], r[2], _parse(r[3]), _parse(r[4]), r[5], r[6]))
    if today is None:
        wanted = [t.term_id for figures in terms.values() for t in figures]
    else:
        wanted = [graded.term_id for figures in terms.values()
                  if (graded := next((t for t in current_and_next(figures, today) if t is not None), None))]
    counted = {r[0]: (r[1], r[2] or 0) for r in db.execute(_STUDENTS, [json.dumps(wanted)]).fetchall()}
    chosen = set(wanted)

    def with_students(t: TermFigures) -> TermFigures:
        if t.term_id not in chosen:
            return replace(t, students=None, matched_students=None)
        students, matched = counted.get(t.term_id, (0, 0))
        return replace(t, students=students, matched_students=matched)

    return {d: [with_students(t) for t in figures] for d, figures in terms.items()}


def term_figures(db: sqlite_utils.Database, district_id: str) -> list[TermFigures]:
    """Every term of a district with its section and matched-student counts, from the cache."""
    return term_figures_by_district(db, district_id).get(district_id, [])


def board(db: sqlite_utils.Database, today: date) -> list[dict[str, Any]]:
    """One row per cached district, riskiest first: what the readiness page and exports show."""
    rows = []
    figures = term_figures_by_district(db, today=today)
    for district_id, name in db.execute("SELECT id, name FROM districts").fetchall():
        verdict = grade_term(district_id, figures.get(district_id, []), today)
        rows.append(board_row(name, verdict))
    rows.sort(key=lambda r: (RISK_ORDER[r["grade"]], -(r["days_since_start"] or 0), (r["name"] or "").lower()))
    return rows


def board_row(name: str | None, verdict: TermReadiness) -> dict[str, Any]:
    current, following = verdict.current, verdict.next
    return {
        "district_id": verdict.district_id, "name": name, "grade": verdict.grade, "reason": verdict.reason,
        "owner": verdict.owner, "next_step": verdict.next_step,
        "current_term": current.name if current else None,
        "current_start": current.start.isoformat() if current and current.start else None,
        "days_since_start": verdict.days_since_start,
        "sections_synced": _percent(current.synced_share) if current else None,
        "students_matched": _percent(current.matched_share) if current else None,
        "next_term": following.name if following else None,
        "next_start": following.start.isoformat() if following and following.start else None,
        "next_sections_synced": _percent(following.synced_share) if following else None,
    }  # fmt: skip


def trend(db: sqlite_utils.Database, district_id: str, since: date) -> list[dict[str, Any]]:
    """Sections and students matched at each pull since `since` (district_history, one row per sync).

    The history is district-wide, not per term: through a term's first weeks it shows the rollover
    catching up (or not) without a table of our own.
    """
    rows = db.execute(
        "SELECT pulled_at, matched_sections, matched_students FROM district_history "
        "WHERE district_id = ? AND pulled_at >= ? ORDER BY pulled_at",
        [district_id, since.isoformat()],
    ).fetchall()
    return [{"pulled_at": r[0], "sections_matched": r[1], "students_matched": r[2]} for r in rows]


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def as_health_reason(verdict: TermReadiness) -> dict[str, str] | None:
    """The adapter for health reasons and alert rules: None when ready, else kind/status/owner/next step."""
    if verdict.grade == READY:
        return None
    return {"kind": "term_readiness", "status": "critical" if verdict.grade == NOT_READY else "warning",
            "owner": verdict.owner, "next_step": verdict.next_step, "figure": verdict.reason}  # fmt: skip
