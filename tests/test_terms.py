"""Term readiness: the grade from one table (term boundaries, empty terms, overlaps, missing dates)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

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
    from lmsdata.db import connect
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


# The per-district query `term_figures` ran before it became one query for every district: the reference.
_PER_DISTRICT = """
    SELECT t.id, t.name, t.start_date, t.end_date,
           COUNT(DISTINCT s.id), COUNT(DISTINCT CASE WHEN s.synced_in_lms = 1 THEN s.id END),
           COUNT(DISTINCT su.user_id), COUNT(DISTINCT CASE WHEN u.synced_in_lms = 1 THEN su.user_id END)
    FROM terms t
    LEFT JOIN sections s ON s.term_id = t.id
    LEFT JOIN section_users su ON su.section_id = s.id AND su.role = 'student'
    LEFT JOIN users u ON u.id = su.user_id
    WHERE t.district_id = ? GROUP BY t.id
"""


def test_figures_for_all_districts_in_one_query_match_the_per_district_query(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Students in several sections of a term, a member without a users row, teachers, unsynced and
    unknown (NULL) sections, a term without sections, a section without a term, a district without terms."""
    import random

    from lmsdata.db import connect
    from lmsdata.terms import _parse, term_figures, term_figures_by_district

    rng = random.Random(7)
    with connect(tmp_path / "lmsdata.db") as db:
        db["districts"].insert_all([{"id": f"d{n}", "name": f"D{n}"} for n in range(6)], pk="id")
        terms, sections, members, users = [], [], [], []
        for n in range(5):  # d5 has no terms
            for k in range(3):
                terms.append({"id": f"d{n}-t{k}", "district_id": f"d{n}", "name": f"T{k}",
                              "start_date": rng.choice([None, "2026-08-15", "2027-01-10"]), "end_date": "2027-06-10"})
            for u in range(30):
                if u % 11 != 5:  # some members have no users row
                    users.append({"id": f"d{n}-u{u}", "district_id": f"d{n}", "role": "student" if u > 2 else "teacher",
                                  "synced_in_lms": rng.choice([0, 1, 1, None])})
            for s in range(8):
                term_id = None if s == 7 else f"d{n}-t{rng.choice([0, 1])}"  # t2 has no sections
                sections.append({"id": f"d{n}-s{s}", "district_id": f"d{n}", "term_id": term_id,
                                 "synced_in_lms": rng.choice([0, 1, None])})
                for u in rng.sample(range(30), 12):
                    members.append({"section_id": f"d{n}-s{s}", "user_id": f"d{n}-u{u}", "district_id": f"d{n}",
                                    "role": "student" if u > 2 else "teacher"})
        for table, rows in [("terms", terms), ("users", users), ("sections", sections), ("section_users", members)]:
            db[table].insert_all(rows)
        everything = term_figures_by_district(db)
        for n in range(6):
            reference = [TermFigures(r[0], r[1], _parse(r[2]), _parse(r[3]), r[4], r[5], r[6], r[7])
                         for r in db.execute(_PER_DISTRICT, [f"d{n}"]).fetchall()]
            assert everything.get(f"d{n}", []) == reference == term_figures(db, f"d{n}")
        for today in (date(2026, 1, 1), date(2026, 9, 1), date(2027, 2, 1), date(2027, 7, 1)):
            graded_only = term_figures_by_district(db, today=today)  # students counted for the graded term only
            for n in range(5):
                full, some = everything[f"d{n}"], graded_only[f"d{n}"]
                verdict = grade_term(f"d{n}", full, today)
                again = grade_term(f"d{n}", some, today)  # the same verdict; the ungraded term's students uncounted
                assert replace(again, current=None, next=None) == replace(verdict, current=None, next=None)
                assert (again.current, again.next) == tuple(
                    t and next(s for s in some if s.term_id == t.term_id) for t in (verdict.current, verdict.next))
                counted = [t for t in some if t.students is not None]
                graded = verdict.current or verdict.next
                assert counted == [t for t in full if graded and t.term_id == graded.term_id]
                assert [replace(t, students=0, matched_students=0) for t in some] == [
                    replace(t, students=0, matched_students=0) for t in full]
        assert "d5" not in everything
        assert any(f.students > f.matched_students > 0 for fs in everything.values() for f in fs)
        assert any(f.sections == 0 for fs in everything.values() for f in fs)
