"""Import an existing push log from JSON Lines: every line validated, bad lines reported by number,
the good ones imported, and a file imported twice adds nothing the second time.

One line is one push (docs/pushes.md has the full format):
{"kind": "submission_update", "district_id": "...", "section_id": "...", "assignment_key": "quiz-3",
 "student_id": "...", "payload": {"grade_points": 18}, "created_at": "2026-11-20T10:00:00Z",
 "attempts": [{"at": "2026-11-20T10:00:01Z", "status": 404, "message": "User not found"}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from lmsdata import audit, inputs
from lmsdata.db import bump_data_version, connect
from lmsdata.pushes import log
from lmsdata.pushes.situation import from_cache
from lmsdata.pushes.taxonomy import Category, classify

REQUIRED = ("kind", "district_id", "section_id", "assignment_key", "payload", "created_at")
OPTIONAL = ("student_id", "assignment_id", "attempts", "state")
ATTEMPT_KEYS = ("at", "status", "message", "duration_ms")
IMPORTABLE_STATES = ("pending", "sent", "failed", "unknown")


class LineError(ValueError):
    """What is wrong with one line, in words a support person can fix the file with."""


@dataclass(frozen=True)
class ImportedLine:
    push: log.NewPush
    state: str
    attempts: list[dict[str, Any]]
    assignment_id: str | None


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    push_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def import_jsonl(db_path: str | Path, source: str | Path, *, actor: str = "system") -> ImportReport:
    """Import the file at `source` into the push log at `db_path`."""
    report = ImportReport()
    parsed: list[tuple[int, ImportedLine]] = []
    with open(source, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                parsed.append((number, parse_line(raw)))
            except LineError as exc:
                report.errors.append((number, str(exc)))
    with connect(db_path) as db, db.atomic():
        for number, line in parsed:
            if _is_duplicate(db, line.push):
                report.duplicates += 1
                continue
            report.push_ids.append(_store(db, line))
            report.imported += 1
            if line.push.kind == "assignment_create" and line.state == "sent" and not line.assignment_id:
                report.warnings.append(
                    (number, "a sent assignment create without assignment_id: its grades cannot be retried "
                             "until the id is known")
                )  # fmt: skip
        log.supersede_older(db)
        audit.record(
            db, actor=actor, action="import", target=str(source),
            outcome="ok" if report.ok else ("partial" if report.imported else "failed"),
            params={"imported": report.imported, "duplicates": report.duplicates, "bad_lines": len(report.errors)},
            detail="; ".join(f"line {n}: {m}" for n, m in report.errors[:20]) or None,
        )  # fmt: skip
        bump_data_version(db)
    return report


def parse_line(raw: bytes | str) -> ImportedLine:
    """Validate one line; raise LineError naming the first problem."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        record = inputs.json_value(text)
    except UnicodeDecodeError:
        raise LineError("not UTF-8 text") from None
    except inputs.InputError as exc:
        raise LineError(str(exc)) from None
    if not isinstance(record, dict):
        raise LineError("each line must be one JSON object")
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise LineError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    missing = [key for key in REQUIRED if record.get(key) in (None, "")]
    if missing:
        raise LineError(f"missing field(s): {', '.join(missing)}")
    kind = record["kind"]
    if kind not in log.KINDS:
        raise LineError(f"kind must be one of {', '.join(log.KINDS)} (got {kind!r})")
    for key in ("district_id", "section_id", "assignment_key", "student_id", "assignment_id"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise LineError(f"{key} must be a string")
    student_id = record.get("student_id") or None
    if kind == "submission_update" and not student_id:
        raise LineError("a submission_update needs student_id (the student's Clever user id)")
    if kind != "submission_update" and student_id:
        raise LineError(f"an {kind} has no student_id (it is about the whole assignment)")
    payload = record["payload"]
    if not isinstance(payload, dict) or not payload:
        raise LineError("payload must be a non-empty JSON object (the body sent to Clever)")
    attempts = [_attempt(i, a) for i, a in enumerate(_list(record.get("attempts")))]
    state = record.get("state") or _state_from(kind, attempts)
    if state not in IMPORTABLE_STATES:
        raise LineError(f"state must be one of {', '.join(IMPORTABLE_STATES)} (got {state!r})")
    push = log.NewPush(
        district_id=record["district_id"], section_id=record["section_id"], assignment_key=record["assignment_key"],
        kind=kind, payload=payload, student_id=student_id, created_at=_time("created_at", record["created_at"]),
    )  # fmt: skip
    return ImportedLine(push, state, attempts, record.get("assignment_id") or None)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LineError("attempts must be a list of objects")
    return value


def _attempt(index: int, value: Any) -> dict[str, Any]:
    where = f"attempts[{index}]"
    if not isinstance(value, dict):
        raise LineError(f"{where} must be an object with at, status, message, duration_ms")
    unknown = sorted(set(value) - set(ATTEMPT_KEYS))
    if unknown:
        raise LineError(f"{where} has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(ATTEMPT_KEYS)}")
    if not value.get("at"):
        raise LineError(f"{where}.at is missing (when the request was sent)")
    status = value.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        raise LineError(f"{where}.status must be an HTTP status (100-599), or null for a timeout")
    message = value.get("message")
    if message is not None and not isinstance(message, str):
        raise LineError(f"{where}.message must be a string")
    duration = value.get("duration_ms")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0):
        raise LineError(f"{where}.duration_ms must be a number of milliseconds")
    return {"at": _time(f"{where}.at", value["at"]), "status": status, "message": message, "duration_ms": duration}


def _time(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise LineError(f"{name} must be an ISO-8601 time such as 2026-11-20T10:00:00Z")
    try:
        return log.iso(log.parse_time(value))
    except ValueError:
        raise LineError(f"{name} is not an ISO-8601 time such as 2026-11-20T10:00:00Z (got {value!r})") from None


def _state_from(kind: str, attempts: list[dict[str, Any]]) -> str:
    if not attempts:
        return "pending"
    status = attempts[-1]["status"]
    if status is not None and 200 <= status < 300:
        return "sent"
    return "unknown" if status is None and kind == "assignment_create" else "failed"


def _is_duplicate(db: sqlite_utils.Database, push: log.NewPush) -> bool:
    row = db.execute(
        "SELECT 1 FROM pushes WHERE kind = ? AND district_id = ? AND section_id = ? AND assignment_key = ? "
        "AND student_id IS ? AND created_at = ? AND payload = ? LIMIT 1",
        [push.kind, push.district_id, push.section_id, push.assignment_key, push.student_id, push.created_at,
         json.dumps(dict(push.payload), sort_keys=True)],
    ).fetchone()  # fmt: skip
    return row is not None


def _store(db: sqlite_utils.Database, line: ImportedLine) -> int:
    push_id = log.insert_push(db, line.push, source="import", state="pending")
    for attempt in line.attempts:
        attempt_id = log.start_attempt(db, push_id, trigger="import", started_at=attempt["at"])
        status = attempt["status"]
        outcome = "unknown" if status is None else ("sent" if 200 <= status < 300 else "failed")
        result = log.AttemptResult(outcome, status, attempt["message"], attempt["duration_ms"])
        log.finish_attempt(db, push_id, attempt_id, result, push_state=None, at=attempt["at"])
    push = log.get_push(db, push_id)
    assert push is not None
    category = _category(db, push, line) if line.state in ("failed", "unknown") else None
    final = log.AttemptResult("skipped", push["last_status"], push["last_message"], None, category)
    log.finish_attempt(db, push_id, None, final, push_state=line.state, at=push["updated_at"])
    if line.assignment_id:
        p = line.push
        log.store_assignment_id(db, p.district_id, p.section_id, p.assignment_key, line.assignment_id,
                                title=_title(p.payload))  # fmt: skip
    return push_id


def _category(db: sqlite_utils.Database, push: Mapping[str, Any], line: ImportedLine) -> Category:
    if not line.attempts:
        return Category.OUTCOME_UNKNOWN if line.state == "unknown" else Category.UNRECOGNIZED
    last = line.attempts[-1]
    return classify(last["status"], last["message"], from_cache(db, push), outcome_unknown=last["status"] is None)


def _title(payload: Mapping[str, Any]) -> str | None:
    title = payload.get("title")
    return title if isinstance(title, str) else None

