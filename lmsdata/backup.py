"""Backups of the cache: online copies while others write, checked restores, rotation.

The copy uses SQLite's online backup API from one read snapshot. The cache runs in WAL mode, so a
reader never blocks a writer: the dashboard, sync and retry keep committing while the copy runs,
and the copy is the database as it was when the snapshot began. The snapshot is a read
transaction we open on the source connection before the first step and hold to the last: the
backup API then never starts a read of its own, so a commit by another connection between two
steps does not restart the copy (it would, and under a steady writer never finish, without it).
That lets the copy be paced (`Pace`): small steps, a pause between them, and a flush of the
partial file every few MB, so the disk never holds a pile of the copy's dirty pages for a
writer's commit fsync to queue behind (bench/backup.py measures the stall; docs/backup.md). The copy goes to a
hidden partial file beside DEST (flock-ed while it is written, so a later backup can tell a dead
backup's leftover from a running one), is integrity-checked, made a single self-contained file
(journal_mode=DELETE), fsynced and only then renamed to DEST: a kill at any moment leaves either
no DEST or a complete backup. Each backup and restore is in the audit log of the cache it acts on.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from lmsdata import audit
from lmsdata.db import CacheError, bump_data_version, schema_version, unknown_migrations

BACKUP_PREFIX = "lmsdata-"
BACKUP_SUFFIX = ".db"
_STAMP = "%Y%m%dT%H%M%S%fZ"
PARTIAL_SUFFIX = ".partial"
_BACKUP_NAME = re.compile(rf"^{re.escape(BACKUP_PREFIX)}\d{{8}}T\d{{12}}Z{re.escape(BACKUP_SUFFIX)}$")


class BackupError(CacheError):
    """A backup or restore could not be made safely; the message says what to do."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size_bytes: int
    schema_version: int
    # Seconds per step of a backup, in order (audit, copy, check, sync): where its time went.
    seconds: dict[str, float] = field(default_factory=dict, compare=False)


def check_backup(path: str | Path, *, thorough: bool = True) -> BackupInfo:
    """Raise BackupError unless `path` is an intact cache this code can open (not from a newer release).

    `thorough`: PRAGMA integrity_check, which also checks every index against its table (restore
    runs it). Otherwise PRAGMA quick_check: every page's structure, the free list, the page count,
    which is what copying can break, at about a twentieth of the CPU (docs/backup.md)."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist.")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check" if thorough else "PRAGMA quick_check").fetchall()
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


@dataclass(frozen=True)
class Pace:
    """How the copy is spread out, so a concurrent writer's commit never waits behind a pile of it.

    A writer's commit fsyncs the WAL; on ext4 that fsync also waits for whatever else is queued on
    the disk. Copied in one go, the backup leaves the whole cache as dirty pages and flushes them in
    one fsync at the end: the writer's commit then waits for the lot. Small steps, a pause between
    them and a flush of the partial file every `sync_bytes` keep the queue short.
    """

    step_pages: int = 256  # pages copied per backup step (1 MB with 4 KiB pages); -1: all in one step
    pause_s: float = 0.002  # sleep after each step: the writer's IO and CPU get a turn
    sync_bytes: int = 4 << 20  # flush the partial file (_flush) after this many bytes; 0: never


UNPACED = Pace(step_pages=-1, pause_s=0.0, sync_bytes=0)  # the old way: one step, one fsync at the end


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _load_sync_file_range() if sys.platform.startswith("linux") else None
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4


def _flush(fd: int) -> None:
    """Write the file's dirty pages to the disk and wait for them, without a journal commit.

    Linux's sync_file_range writes data only: unlike fdatasync it does not force an ext4 journal
    commit, which every other process's fsync (the writer's commit) would then wait for. The
    final os.fsync in backup() makes the file durable. Elsewhere: fdatasync."""
    if _SYNC_FILE_RANGE is None or _SYNC_FILE_RANGE(fd, 0, 0, _WAIT_BEFORE | _WRITE | _WAIT_AFTER) != 0:
        os.fdatasync(fd)


class _Pacer:
    """The backup's progress callback: after each step, maybe flush the partial file, then pause."""

    def __init__(self, fd: int, page_size: int, pace: Pace) -> None:
        self.fd, self.page_size, self.pace = fd, page_size, pace
        self.copied = self.unsynced = 0

    def __call__(self, status: int, remaining: int, total: int) -> None:
        done = total - remaining
        self.unsynced += (done - self.copied) * self.page_size
        self.copied = done
        if self.pace.sync_bytes and self.unsynced >= self.pace.sync_bytes:
            _flush(self.fd)  # kept in the page cache: the check reads it right after
            self.unsynced = 0
        if self.pace.pause_s and remaining:
            time.sleep(self.pace.pause_s)


def backup(src: str | Path, dest: str | Path, *, actor: str = "system", pace: Pace = Pace()) -> BackupInfo:
    """Copy the live cache `src` to `dest` (replaced only once the new copy passed its check).

    The audit entry goes into `src` just before the snapshot, so the backup holds its own entry (a
    restored cache shows which backup it came from) and stays equal to the source at that moment;
    a copy that fails afterwards adds a "failed" entry.
    """
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise BackupError(f"There is no cache at {src} to back up.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(dest.parent, lambda name: name == dest.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=PARTIAL_SUFFIX, dir=dest.parent)
    tmp = Path(tmp_name)
    recorded = False
    clock = _StepClock()
    try:
        _own(fd, tmp)
        _record(src, actor, "backup", str(dest), "ok", "A copy of the cache as of this entry.")
        recorded = True
        clock.lap("audit")
        _copy(src, tmp, fd, pace)
        clock.lap("copy")
        info = check_backup(tmp, thorough=False)  # what a copy can break; restore runs the full check
        clock.lap("check")
        os.fsync(fd)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        clock.lap("sync")
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if recorded:
            with contextlib.suppress(Exception):  # the original error is the one to report
                _record(src, actor, "backup", str(dest), "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        os.close(fd)
    return BackupInfo(dest, info.size_bytes, info.schema_version, clock.seconds)


class _StepClock:
    """Seconds spent in each named step, for BackupInfo.seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step], self._last = now - self._last, now


def _copy(src: Path, tmp: Path, fd: int, pace: Pace) -> None:
    """Page-copy `src` into the empty file `tmp` from one read snapshot held across all steps."""
    source = sqlite3.connect(src, timeout=30, isolation_level=None)
    target = sqlite3.connect(tmp, isolation_level=None)
    try:
        # No journal and no syncs of its own on the partial file: the pacer flushes it in slices,
        # backup() fsyncs it whole, and a file cut short is deleted or fails check_backup anyway.
        target.execute("PRAGMA journal_mode = OFF")
        target.execute("PRAGMA synchronous = OFF")
        page_size = int(source.execute("PRAGMA page_size").fetchone()[0])
        source.execute("BEGIN")
        source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts here
        source.backup(target, pages=pace.step_pages, progress=_Pacer(fd, page_size, pace))
        source.execute("COMMIT")
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
    finally:
        target.close()
        source.close()


def _own(fd: int, tmp: Path) -> None:
    """Lock the new partial file so `remove_stale_partials` leaves it alone while this process lives.

    A kill -9 releases the lock with the process. If a cleanup removed the file between its creation
    and the lock, the name no longer points at our file: give up rather than write a stranger's."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    if not tmp.exists() or os.stat(tmp).st_ino != os.fstat(fd).st_ino:
        raise BackupError(f"The partial backup file {tmp} was removed by another process; run the backup again.")


def _record(
    path: Path, actor: str, action: str, target: str, outcome: str, detail: str, params: dict[str, str] | None = None
) -> None:
    """One audit row in the cache at `path`, without migrating it (a backup copies the file as it is).

    A cache older than the audit log (schema before m003) gets none."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db = sqlite_utils.Database(conn)
        if not db["audit_log"].exists():
            return
        conn.execute("BEGIN IMMEDIATE")
        audit.record(db, actor=actor, action=action, target=target, outcome=outcome, params=params, detail=detail)
        bump_data_version(db)  # the dashboard's audit page shows it at once
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"Could not write the {action} to the audit log of {path} ({exc}).") from exc
    finally:
        conn.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore(src: str | Path, dest: str | Path, *, force: bool = False, actor: str = "system") -> BackupInfo:
    """Put backup `src` in place of the cache `dest`, after checking it; an existing cache needs `force`.

    The pages are written through SQLite's backup API into the cache itself (not a file rename),
    so a dashboard or worker holding the cache open sees the restored data, never a torn file.
    The restore is then recorded in the restored cache's audit log (the old cache's log is gone
    with it; its backup's own "backup" entry precedes this one).
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
    _record(dest, actor, "restore", str(dest), "ok", f"Replaced by the backup {src}.",
            {"from": str(src), "schema_version": str(info.schema_version)})
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
    """Delete all but the `keep` newest scheduled backups, and what dead scheduled backups left half
    written; return what was deleted. Other files stay."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    removed = list_backups(directory)[keep:]
    for path in removed:
        path.unlink()
    return removed + remove_stale_partials(directory, lambda name: bool(_BACKUP_NAME.match(name)))


# `.DEST.XXXXXXXX.partial`: tempfile.mkstemp's name for a partial copy of DEST (8 random characters).
_PARTIAL_NAME = re.compile(rf"^\.(?P<dest>.+)\.[a-z0-9_]{{8}}{re.escape(PARTIAL_SUFFIX)}$")


def remove_stale_partials(directory: str | Path, owns: Callable[[str], bool]) -> list[Path]:
    """Delete the partial files a killed backup left in `directory` for a DEST name that `owns` accepts.

    Only hidden `.DEST.XXXXXXXX.partial` files (and SQLite's -journal/-wal/-shm beside them) go, and
    only when no live process holds their lock: a backup still running keeps its file."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for path in sorted(directory.iterdir()):
        found = _PARTIAL_NAME.match(path.name)
        if not found or not owns(found["dest"]) or not path.is_file():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a running backup's file
        try:
            for leftover in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
                if leftover.exists():
                    leftover.unlink()
                    removed.append(leftover)
        finally:
            os.close(fd)
    return removed


def scheduled_backup(
    db_path: str | Path,
    directory: str | Path,
    keep: int,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    actor: str = "worker",
) -> BackupInfo:
    """The worker's `backup` job: a timestamped backup into `directory`, then keep the `keep` newest."""
    info = backup(db_path, Path(directory) / backup_name(clock()), actor=actor)
    rotate_backups(directory, keep)
    return info
