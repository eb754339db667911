"""The committed schema fixtures and a plain row reader, shared by the backup, upgrade and retention tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
SCHEMA_FIXTURES = sorted(FIXTURES_DIR.glob("cache-schema-*.db"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
TODAYS_FIXTURE = SCHEMA_FIXTURES[-1]  # the newest schema: what this code writes


def rows(path: Path, table: str) -> list[tuple]:
    """Every row of `table`, in rowid order, read without lmsdata (so without migrating the file)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


def built_demo(path: Path) -> Path:
    """The demo cache at `path`, built through its own sandbox (stopped again afterwards); `path`."""
    from lmsdata import demo

    env = demo.start(path)
    try:
        demo.build(env)
    finally:
        env.close()
    return path
