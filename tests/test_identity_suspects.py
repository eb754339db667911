"""Suspected duplicates are stored when a sync writes a district (`identity_suspects`, m008): a full
sync fills the table, an incremental sync that changes a user updates it, an existing cache gets it
from the migration, and what is stored is always what the rules find on the cache right then."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from lmsdata.db import connect
from lmsdata.gradebook.identity import duplicate_of, stored_duplicates, suspected_duplicates
from lmsdata.sync import sync
from tests.sync_fixtures import client_for, served


def _key(found: list) -> list[tuple]:  # type: ignore[type-arg]
    return sorted((d.district_id, d.rule, d.value, d.user_ids) for d in found)


def _assert_stored_is_live(db: sqlite_utils.Database) -> None:
    """The table holds exactly the rules' answer, and each member's lookup names its first group."""
    live = suspected_duplicates(db)
    assert _key(stored_duplicates(db)) == _key(live)
    for district_id in {d.district_id for d in live}:
        assert _key(stored_duplicates(db, district_id)) == _key(suspected_duplicates(db, district_id))
    for duplicate in live:
        for uid in duplicate.user_ids:
            first = next(d for d in suspected_duplicates(db, duplicate.district_id) if uid in d.user_ids)
            assert duplicate_of(db, duplicate.district_id, uid) == first


def test_sync_stores_the_suspects_and_an_incremental_sync_that_removes_a_twin_updates_them(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with served() as (sandbox, url):
        with client_for(url) as client:
            sync(client, path, full=True)
        with connect(path) as db:
            stored = stored_duplicates(db)
            assert len(stored) >= 2 and {d.rule for d in stored} == {"same_name_in_section"}  # the demo's look-alikes
            _assert_stored_is_live(db)
        twin = stored[0]
        gone, kept = twin.user_ids
        sandbox.remove_user(gone)  # a users.deleted and a sections.updated event
        with client_for(url) as client:
            incremental = sync(client, path)
    assert incremental.districts[twin.district_id].mode == "incremental"
    with connect(path) as db:
        assert duplicate_of(db, twin.district_id, kept) is None  # no longer held: its look-alike left
        assert _key(stored_duplicates(db)) == _key(stored[1:])
        _assert_stored_is_live(db)


def test_the_migration_fills_the_table_of_an_existing_cache_once(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with served() as (_, url), client_for(url) as client:
        sync(client, path, full=True)
    with connect(path) as db, db.conn:
        expected = _key(stored_duplicates(db))
        db.execute("DROP TABLE identity_suspects")  # as a cache written before m008_identity_suspects
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm008_identity_suspects'")
    with connect(path) as db:
        assert expected and _key(stored_duplicates(db)) == expected
        _assert_stored_is_live(db)


def test_a_retry_that_finds_a_sections_students_changed_stores_the_suspects_again(tmp_path: Path) -> None:
    """The retry gate reads a section fresh from Clever and rewrites its student list
    (`FreshLook`); a look-alike who left the section is then no longer a suspect, before any sync."""
    from lmsdata.pushes.situation import FreshLook

    path = tmp_path / "c.db"
    with served() as (sandbox, url):
        with client_for(url) as client:
            sync(client, path, full=True)
        with connect(path) as db:
            twin = next(d for d in stored_duplicates(db) if d.rule == "same_name_in_section")
        section_id = twin.value.split(":")[0]
        gone, kept = twin.user_ids
        sandbox.remove_user(gone)
        with client_for(url) as client, connect(path) as db:
            FreshLook(client.district(twin.district_id), db).section(section_id)
            assert duplicate_of(db, twin.district_id, kept) is None
            _assert_stored_is_live(db)
