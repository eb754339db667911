"""Backups of the cache: online copies while others write, checked restores, rotation.

The copy uses SQLite's online backup API from a read snapshot. The cache runs in WAL mode, so a
reader never blocks a writer: the dashboard, sync and retry keep committing while the copy runs,
and the copy is the database as it was when the snapshot began. It is done in ONE backup step on
purpose: a stepped copy restarts from the first page whenever another connection commits between
steps, so under a steady writer it may never finish, and in WAL mode a step holds no write lock to
shorten (bench/backup.py measures the writer stall). The copy goes to a temporary file beside
DEST, is integrity-checked, made a single self-contained file (journal_mode=DELETE), fsynced and
only then renamed to DEST: a kill at any moment leaves either no DEST or a complete backup.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from lmsdata.db import CacheError, schema_version, unknown_migrations

BACKUP_PREFIX = "lmsdata-"
BACKUP_SUFFIX = ".db"
_STAMP = "%Y%m%dT%H%M%S%fZ"
_BACKUP_NAME = re.compile(rf"^{re.escape(BACKUP_PREFIX)}\d{{8}}T\d{{12}}Z{re.escape(BACKUP_SUFFIX)}$")


class BackupError(CacheError):
    """A backup or restore could not be made safely; the message says what to do."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size_bytes: int
    schema_version: int


def check_backup(path: str | Path) -> BackupInfo:
    """Raise BackupError unless `path` is an intact cache this code can open (not from a newer release)."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist.")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        if result != [("ok",)]:
            raise BackupError(f"{path} is damaged (integrity check: {result[0][0]}). Use an older backup.")
        db = sqlite_utils.Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
        try:
            if not db["_sqlite_migrations"].exists():
                raise BackupError(f"{path} is not an lmsdata cache (it has no schema record).")
            newer = unknown_migrations(db)
            if newer:
                raise BackupError(
                    f"{path} was written by a newer release of lmsdata (schema changes {', '.join(newer)}); "
                    "restore it with that release."
                )
            version = schema_version(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite cache ({exc}).") from exc
    return BackupInfo(path=path, size_bytes=path.stat().st_size, schema_version=version)


def backup(src: str | Path, dest: str | Path) -> BackupInfo:
    """Copy the live cache `src` to `dest` (replaced only once the new copy passed its check)."""
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise BackupError(f"There is no cache at {src} to back up.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        source = sqlite3.connect(src, timeout=30)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
            source.close()
        info = check_backup(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupInfo(dest, info.size_bytes, info.schema_version)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore(src: str | Path, dest: str | Path, *, force: bool = False) -> BackupInfo:
    """Put backup `src` in place of the cache `dest`, after checking it; an existing cache needs `force`.

    The pages are written through SQLite's backup API into the cache itself (not a file rename),
    so a dashboard or worker holding the cache open sees the restored data, never a torn file.
    """
    src, dest = Path(src), Path(dest)
    info = check_backup(src)
    if dest.exists() and not force:
        raise BackupError(
            f"There is already a cache at {dest}. Restoring replaces everything in it; take a backup of it "
            "first (`lmsdata backup`), stop the dashboard and worker, then run restore again with --force."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dest, timeout=30)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode = WAL")
    finally:
        target.close()
        source.close()
    return BackupInfo(dest, dest.stat().st_size, info.schema_version)


def backup_name(at: datetime) -> str:
    return f"{BACKUP_PREFIX}{at.astimezone(UTC).strftime(_STAMP)}{BACKUP_SUFFIX}"


def list_backups(directory: str | Path) -> list[Path]:
    """The scheduled backups in `directory`, newest first (by the time in their name)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if _BACKUP_NAME.match(p.name)), key=lambda p: p.name, reverse=True)


def rotate_backups(directory: str | Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest scheduled backups; return what was deleted. Other files stay."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    removed = list_backups(directory)[keep:]
    for path in removed:
        path.unlink()
    return removed


def scheduled_backup(
    db_path: str | Path, directory: str | Path, keep: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> BackupInfo:
    """The worker's `backup` job: a timestamped backup into `directory`, then keep the `keep` newest."""
    info = backup(db_path, Path(directory) / backup_name(clock()))
    rotate_backups(directory, keep)
    return info
