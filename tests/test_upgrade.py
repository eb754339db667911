"""A cache written by any earlier schema opens in this code with every row kept; a newer one is refused."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils.migrations import Migrations

from lmsdata import db as cache
from lmsdata.db import CacheError, connect, migrate
from tests.cache_fixtures import SCHEMA_FIXTURES

FIXTURES = SCHEMA_FIXTURES


def _tables(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}
    finally:
        conn.close()


def _schema(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()


def test_there_is_a_fixture_for_todays_schema_or_an_earlier_one() -> None:
    assert FIXTURES, "tests/fixtures/make_cache_fixture.py builds one"
    assert any(p.name == "cache-schema-3.db" for p in FIXTURES)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_an_older_cache_migrates_forward_keeping_every_row(fixture: Path, tmp_path: Path) -> None:
    path = tmp_path / "lmsdata.db"
    shutil.copy(fixture, path)
    before = _tables(path)
    assert all(rows for name, rows in before.items() if name != "sqlite_sequence"), "the fixture fills every table"
    with connect(path) as db:
        assert not cache.migrations.pending(db)
    after = _tables(path)
    for name, rows in before.items():
        if name == "_sqlite_migrations":
            assert set(rows) <= set(after[name])
            continue
        columns_kept = [row[: len(rows[0])] for row in after[name]] if rows else []
        assert len(after[name]) == len(rows), name
        assert sorted(columns_kept, key=repr) == rows, name


def _set_with(*extra) -> Migrations:  # type: ignore[no-untyped-def]
    mset = Migrations("lmsdata")
    for m in cache.migrations._migrations:
        mset(name=m.name)(m.fn)
    for fn in extra:
        mset()(fn)
    return mset


def m900_adds_a_table(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO upgrade_probe (id) VALUES (1)")
    db.execute("UPDATE pushes SET attempts = attempts + 100")


def m901_fails_midway(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE never_kept (id INTEGER)")
    raise RuntimeError("injected failure")


def test_a_migration_failing_midway_rolls_back_every_pending_one(tmp_path: Path) -> None:
    path = tmp_path / "lmsdata.db"
    shutil.copy(FIXTURES[0], path)
    before, schema = _tables(path), _schema(path)
    db = sqlite_utils.Database(path)
    with pytest.raises(RuntimeError, match="injected failure"):
        migrate(db, _set_with(m900_adds_a_table, m901_fails_midway))
    db.close()
    assert _schema(path) == schema
    assert _tables(path) == before


def test_all_pending_migrations_apply_together(tmp_path: Path) -> None:
    path = tmp_path / "lmsdata.db"
    shutil.copy(FIXTURES[0], path)
    db = sqlite_utils.Database(path)
    migrate(db, _set_with(m900_adds_a_table))
    assert db.execute("SELECT COUNT(*) FROM upgrade_probe").fetchone()[0] == 1
    db.close()


def test_a_fresh_cache_failing_midway_is_left_empty(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = sqlite_utils.Database(path)
    with pytest.raises(RuntimeError):
        migrate(db, _set_with(m901_fails_midway))
    db.close()
    assert _tables(path) == {}


def test_a_cache_from_a_newer_release_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "lmsdata.db"
    shutil.copy(FIXTURES[-1], path)
    newer = sqlite_utils.Database(path)
    migrate(newer, _set_with(m900_adds_a_table))
    newer.close()
    before, schema = _tables(path), _schema(path)
    with pytest.raises(CacheError, match=r"newer release of lmsdata .*m900_adds_a_table"), connect(path):
        pass
    assert _tables(path) == before and _schema(path) == schema
