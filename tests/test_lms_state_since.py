"""`status.lms_state_since` (SQL, index seeks) gives what `health.state_since` (every row in Python) gives.

The Python definition stays the reference: each history below is written to a real cache and both
answers are compared, district by district, including districts without history.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lmsdata.db import connect
from lmsdata.health import state_since
from lmsdata.status import lms_state_since

T = [f"2026-11-{day:02d}T{hour:02d}:00:00.000Z" for day in range(1, 29) for hour in (0, 12)]

# (name, {district: [(pulled_at, lms_state), ...] in insertion order}, expected lms_state_since per district)
CASES: list[tuple[str, dict[str, list[tuple[str, str | None]]], dict[str, str | None]]] = [
    ("one state all along", {"a": [(T[0], "success"), (T[1], "success"), (T[2], "success")]}, {"a": T[0]}),
    ("a single pull", {"a": [(T[5], "pending_authorization")]}, {"a": T[5]}),
    ("no history at all", {"a": []}, {"a": None}),
    ("setup then success", {"a": [(T[0], "pending_authorization"), (T[1], "initial_sync_processing"),
                                  (T[2], "success"), (T[3], "success")]}, {"a": T[2]}),
    ("back to an earlier state: only the last run counts",
     {"a": [(T[0], "success"), (T[1], "error"), (T[2], "success"), (T[3], "success")]}, {"a": T[2]}),
    ("changed at the newest pull", {"a": [(T[0], "success"), (T[1], "success"), (T[2], "disconnected")]},
     {"a": T[2]}),
    ("a gap of days between pulls", {"a": [(T[0], "error"), (T[20], "success"), (T[40], "success")]},
     {"a": T[20]}),
    ("None, empty and blank are one state",
     {"a": [(T[0], "success"), (T[1], None), (T[2], ""), (T[3], "  "), (T[4], None)]}, {"a": T[1]}),
    ("blank around a real state is the same state",
     {"a": [(T[0], ""), (T[1], " success"), (T[2], "success "), (T[3], "success")]}, {"a": T[1]}),
    ("never connected: all None", {"a": [(T[0], None), (T[1], None)]}, {"a": T[0]}),
    ("unknown states compare as any other", {"a": [(T[0], "paused"), (T[1], "zzz"), (T[2], "zzz")]},
     {"a": T[1]}),
    ("inserted out of time order", {"a": [(T[3], "success"), (T[0], "error"), (T[2], "success"),
                                          (T[1], "error")]}, {"a": T[2]}),
    ("same pulled_at twice: the later id is the newer pull",
     {"a": [(T[0], "success"), (T[1], "error"), (T[1], "success"), (T[2], "success")]}, {"a": T[1]}),
    ("same pulled_at twice, the other way round",
     {"a": [(T[0], "success"), (T[1], "success"), (T[1], "error"), (T[2], "success")]}, {"a": T[2]}),
    ("several districts do not mix",
     {"a": [(T[0], "success"), (T[3], "error")], "b": [(T[1], "error"), (T[2], "success")], "c": []},
     {"a": T[3], "b": T[2], "c": None}),
]


def _write(db_path: Path, histories: dict[str, list[tuple[str, str | None]]],
           orphans: Sequence[tuple[str, str, str | None]] = ()) -> list[dict[str, Any]]:
    """The districts and their history in a real cache; returns the history rows as the old code read them."""
    with connect(db_path) as db:
        db["districts"].insert_all([{"id": d, "name": d} for d in histories], pk="id")
        pulls = [(d, at, state) for d, rows in histories.items() for at, state in rows] + list(orphans)
        for district_id, pulled_at, state in pulls:
            db.execute("INSERT INTO district_history (district_id, pulled_at, lms_state) VALUES (?, ?, ?)",
                       [district_id, pulled_at, state])
        db.conn.commit()
        return list(db.query("SELECT id, district_id, pulled_at, lms_state FROM district_history"))


@pytest.mark.parametrize(("name", "histories", "expected"), CASES, ids=[c[0] for c in CASES])
def test_sql_state_since_matches_the_python_definition(
    db_path: Path, name: str, histories: dict[str, list[tuple[str, str | None]]], expected: dict[str, str | None]
) -> None:
    history = _write(db_path, histories, orphans=[("gone", T[0], "error")])  # history of a district no longer cached
    with connect(db_path) as db:
        found = lms_state_since(db)
    old = state_since(history)
    assert {d: found.get(d) for d in histories} == expected
    assert {d: found.get(d) for d in histories} == {d: old.get(d) for d in histories}
    assert "gone" not in found  # only cached districts: district_rows looks up nothing else


def test_sql_state_since_matches_on_random_histories(db_path: Path) -> None:
    """Many districts with random states (few, with blanks and ties on pulled_at), inserted in random order."""
    rng = random.Random(11)
    states = ["success", "error", "pending_authorization", "", " ", None, "success "]
    histories = {}
    for n in range(60):
        pulls = [(rng.choice(T[:12]), rng.choice(states)) for _ in range(rng.randrange(0, 14))]
        histories[f"d{n:02d}"] = pulls
    history = _write(db_path, histories)
    with connect(db_path) as db:
        found = lms_state_since(db)
    old = state_since(history)
    assert found == old
    assert sum(1 for d in histories if found.get(d) not in (None, min((at for at, _ in histories[d]), default=None)))
