"""Term readiness: the grade from one table (term boundaries, empty terms, overlaps, missing dates)."""

from __future__ import annotations

from datetime import date

import pytest

from lmsdata.db import connect
from lmsdata.terms import AT_RISK, NOT_READY, READY, TermFigures, as_health_reason, grade_term

TODAY = date(2026, 9, 10)


def term(tid: str, start: str | None, end: str | None, sections: int = 10, synced: int = 10,
         students: int = 100, matched: int = 100) -> TermFigures:  # fmt: skip
    parse = lambda v: date.fromisoformat(v) if v else None  # noqa: E731
    return TermFigures(tid, tid, parse(start), parse(end), sections, synced, students, matched)


CASES = [
    # (case, terms, grade, current term, owner)
    ("all synced mid-term", [term("fall", "2026-08-20", "2026-12-20")], READY, "fall", "none"),
    ("starts today, half synced", [term("fall", "2026-09-10", "2026-12-20", synced=5)], AT_RISK, "fall", "teachers"),
    ("ends today still current", [term("summer", "2026-06-01", "2026-09-10")], READY, "summer", "none"),
    ("ended yesterday, next far off", [term("summer", "2026-06-01", "2026-09-09"),
                                       term("fall", "2026-10-30", "2026-12-20", synced=0)], READY, None, "none"),
    ("unsynced after the grace days", [term("fall", "2026-09-01", "2026-12-20", synced=3)], NOT_READY, "fall",
     "teachers"),
    ("unsynced on the last grace day", [term("fall", "2026-09-03", "2026-12-20", synced=3)], AT_RISK, "fall",
     "teachers"),
    ("students not matched", [term("fall", "2026-08-20", "2026-12-20", matched=50)], NOT_READY, "fall", "teachers"),
    ("current term without sections", [term("fall", "2026-09-01", "2026-12-20", 0, 0, 0, 0)], NOT_READY, "fall",
     "district"),
    ("next term soon, no sections", [term("fall", "2026-09-15", "2026-12-20", 0, 0, 0, 0)], AT_RISK, None,
     "district"),
    ("overlap: the latest started wins", [term("year", "2026-08-01", "2027-06-01"),
                                         term("q1", "2026-08-25", "2026-10-30", synced=2)], NOT_READY, "q1",
     "teachers"),
    ("missing dates only", [term("fall", None, None)], AT_RISK, None, "district"),
    ("missing end date counts as open", [term("fall", "2026-08-20", None)], READY, "fall", "none"),
    ("no terms at all", [], AT_RISK, None, "district"),
]


@pytest.mark.parametrize(("case", "terms", "grade", "current", "owner"), CASES, ids=[c[0] for c in CASES])
def test_grade(case: str, terms: list[TermFigures], grade: str, current: str | None, owner: str) -> None:
    verdict = grade_term("d1", terms, TODAY)
    assert verdict.grade == grade, verdict.reason
    assert (verdict.current.term_id if verdict.current else None) == current
    assert verdict.owner == owner
    assert bool(verdict.next_step) is (grade != READY)


def test_health_reason_adapter_says_how_long_after_the_start() -> None:
    verdict = grade_term("d1", [term("fall", "2026-08-31", "2026-12-20", synced=3)], TODAY)
    reason = as_health_reason(verdict)
    assert reason is not None and reason["status"] == "critical"
    assert "10 days after the term started" in reason["figure"]
    assert as_health_reason(grade_term("d1", [term("fall", "2026-08-20", "2026-12-20")], TODAY)) is None


def test_trend_reads_the_sync_history_since_the_term_started(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lmsdata.terms import trend

    with connect(tmp_path / "c.db") as db:
        db.table("district_history").insert_all([
            {"district_id": "d1", "pulled_at": "2026-08-30T10:00:00.000Z", "matched_sections": 90.0},
            {"district_id": "d1", "pulled_at": "2026-09-02T10:00:00.000Z", "matched_sections": 40.0},
            {"district_id": "d1", "pulled_at": "2026-09-09T10:00:00.000Z", "matched_sections": 70.0},
            {"district_id": "d2", "pulled_at": "2026-09-05T10:00:00.000Z", "matched_sections": 10.0},
        ])  # fmt: skip
        points = trend(db, "d1", date(2026, 9, 1))
    assert [p["sections_matched"] for p in points] == [40.0, 70.0]


def test_a_sync_keeps_each_terms_counts_and_they_equal_counting_afresh(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The stored counts the worker's rule and the Readiness page read are those of the live data."""
    from lmsdata.terms import _COUNT_FIGURES, term_figures
    from tests.cache_fixtures import built_demo

    path = built_demo(tmp_path / "demo.db")
    with connect(path) as db:
        districts = [r[0] for r in db.execute("SELECT id FROM districts")]
        for district_id in districts:
            live = [tuple(r[1:]) for r in db.execute(_COUNT_FIGURES, [district_id]).fetchall()]
            stored = [(f.term_id, f.name, f.sections, f.synced_sections, f.students, f.matched_students)
                      for f in term_figures(db, district_id)]
            assert stored == [(r[0], r[1], r[4], r[5], r[6], r[7]) for r in live]
        assert sum(f.sections for d in districts for f in term_figures(db, d)) > 0
