"""District timeline (issue 12): the merge as a table, and every source read from a real cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsdata import cases, timeline
from lmsdata.audit import record
from lmsdata.db import connect
from lmsdata.timeline import Entry, merge

A, B, C = "2026-03-01T10:00:00.000Z", "2026-03-02T10:00:00.000Z", "2026-03-03T10:00:00.000Z"


@pytest.mark.parametrize(
    ("streams", "kinds", "limit", "expected"),
    [
        # newest first across streams
        ([[("sync", A), ("sync", C)], [("note", B)]], (), 10, [("sync", C), ("note", B), ("sync", A)]),
        # the same instant: the more basic kind first (KINDS order), whatever stream came first
        ([[("audit", B)], [("note", B)], [("state", B)], [("sync", B)]], (), 10,
         [("sync", B), ("state", B), ("note", B), ("audit", B)]),
        # the same instant and kind: as the stream gave them
        ([[("push", B, "first"), ("push", B, "second")]], (), 10, [("push", B, "first"), ("push", B, "second")]),
        # a filter keeps only its kinds, still in order
        ([[("sync", C), ("alert", B)], [("note", A), ("alert", A)]], ("alert",), 10, [("alert", B), ("alert", A)]),
        ([[("sync", C), ("alert", B)], [("note", A)]], ("note", "sync"), 10, [("sync", C), ("note", A)]),
        # the limit keeps the newest
        ([[("sync", A), ("sync", B), ("sync", C)]], (), 2, [("sync", C), ("sync", B)]),
        # nothing in, nothing out; a filter that matches nothing
        ([], (), 10, []),
        ([[("sync", A)]], ("invitation",), 10, []),
    ],
)
def test_merge(streams: list, kinds: tuple[str, ...], limit: int, expected: list) -> None:  # type: ignore[type-arg]
    def entry(kind: str, at: str, summary: str = "") -> Entry:
        return Entry(at, kind, summary or f"{kind} at {at}")

    merged = merge([[entry(*e) for e in stream] for stream in streams], kinds=kinds, limit=limit)
    assert [(e.kind, e.at, *([e.summary] if "at" not in e.summary else [])) for e in merged] == expected


NOTE = "<img src=x onerror=alert(1)> [link](http://x) **bold**"


def fill(db_path: Path) -> None:
    """One of each source for district d1, and noise for d2 that must not show."""
    with connect(db_path) as db, db.conn:
        for did in ("d1", "d2"):
            db.execute("INSERT INTO districts (id, name) VALUES (?, ?)", [did, did.upper()])
            db.execute("INSERT INTO sync_run_districts (run_id, district_id, mode, started_at, finished_at, outcome, "
                       "changes, error) VALUES (1, ?, 'full', ?, ?, 'failed', 0, 'HTTP 503')", [did, A, A])
            db.execute("INSERT INTO sync_run_districts (run_id, district_id, mode, started_at, finished_at, outcome, "
                       "changes) VALUES (2, ?, 'incremental', ?, ?, 'success', 4)", [did, B, B])
        db.execute("INSERT INTO district_history (district_id, pulled_at, lms_state, matched_students) "
                   "VALUES ('d1', ?, 'matching_in_progress', 40), ('d1', ?, 'success', 97)", [A, B])
        db.execute("INSERT INTO pushes (id, district_id, section_id, assignment_key, kind, payload, state, source, "
                   "created_at, updated_at) VALUES (1, 'd1', 's', 'k', 'assignment_create', '{}', 'sent', 'api', ?, ?),"
                   " (2, 'd2', 's', 'k', 'assignment_create', '{}', 'failed', 'api', ?, ?),"
                   " (3, 'd1', 's', 'k2', 'assignment_create', '{}', 'failed', 'api', ?, ?)", [A, B, A, A, C, C])
        db.execute("UPDATE pushes SET category = 'section_not_synced' WHERE id = 3")
        db.execute("INSERT INTO push_attempts (push_id, started_at, http_status, message, outcome) VALUES "
                   "(1, ?, 503, 'Service Unavailable', 'failed'), (1, ?, 200, NULL, 'sent'), "
                   "(2, ?, 503, 'Service Unavailable', 'failed'), (3, ?, 404, 'Section not found', 'failed')",
                   ["2026-03-01T11:00:00.000Z", "2026-03-02T11:00:00.000Z", A, C])
        db.execute("INSERT INTO invitations (district_id, email, state, actor, created_at, sent_at, accepted_at) "
                   "VALUES ('d1', 'it@d1.example', 'accepted', 'ops@p.example', ?, ?, ?)",
                   [A, "2026-03-01T12:00:00.000Z", "2026-03-02T12:00:00.000Z"])
        db.execute("INSERT INTO alerts (rule, subject, state, detail, opened_at, last_seen_at, resolved_at, "
                   "resolution) VALUES ('sync_failed', 'd1', 'resolved', 'pull failed', ?, ?, ?, 'pulled again')",
                   ["2026-03-01T10:30:00.000Z", B, "2026-03-02T10:30:00.000Z"])
        record(db, actor="ops@p.example", action="fix-request-send", target="d1", outcome="ok", params={"items": 3})
        record(db, actor="ops@p.example", action="sync", target="d1", outcome="failed", detail="HTTP 503")
        record(db, actor="ops@p.example", action="sync", target="d2", outcome="ok")
    cases.set_state(db_path, "ops@p.example", "d1", "waiting on Clever")
    cases.add_note(db_path, "ops@p.example", "d1", NOTE)
    cases.add_note(db_path, "ops@p.example", "d2", "not this district")


def test_every_source_of_one_district_newest_first(db_path: Path) -> None:
    fill(db_path)
    with connect(db_path) as db:
        stream = timeline.district_timeline(db, "d1")
    assert {e.kind for e in stream} == set(timeline.KINDS)
    assert [e.at for e in stream] == sorted((e.at for e in stream), reverse=True)
    summaries = [e.summary for e in stream]
    assert "Sync run 1 (full) failed: HTTP 503" in summaries
    assert "Sync run 2 (incremental) success, 4 changes" in summaries
    assert "LMS state matching in progress → success" in summaries
    assert "1 push failed on 2026-03-01 (HTTP 503)" in summaries
    assert "1 push failed on 2026-03-03 (HTTP 404; still failed: Section not synced to the LMS)" in summaries
    assert "1 push recovered on 2026-03-02 (sent after a failure)" in summaries
    assert "Invitation 1 accepted: LMS Connect authorized" in summaries
    assert "Alert sync_failed resolved: pulled again" in summaries
    assert "case-state: state=waiting on Clever" in summaries
    assert "fix-request-send: items=3" in summaries
    assert "sync (failed: HTTP 503)" in summaries
    notes = [e for e in stream if e.kind == "note"]
    assert [(n.summary, n.who) for n in notes] == [(NOTE, "ops@p.example")]  # as typed: shown as text
    assert not [s for s in summaries if "not this district" in s or "d2" in s]
    assert len([e for e in stream if e.kind == "sync"]) == 2  # d2's runs are not here


def test_a_kind_filter_reads_only_what_it_shows(db_path: Path) -> None:
    fill(db_path)
    with connect(db_path) as db:
        assert {e.kind for e in timeline.district_timeline(db, "d1", kinds=("case", "alert"))} == {"case", "alert"}
        assert [e.kind for e in timeline.district_timeline(db, "d1", kinds=("note",))] == ["note"]
        assert timeline.district_timeline(db, "no-such-district") == []
