"""Escalation bundles for Clever support: one district (or one cross-district failure cluster) packaged
as a Markdown summary plus a ZIP, ready to paste into a ticket or attach to it.

Nothing in a bundle identifies a student or opens a door: every request and response body is
masked for its student (`lmsdata.masking`) and every file goes through `lmsdata.redact` (tokens,
secrets, Authorization values) last. Students and teachers appear only as Clever ids. Values that
Clever or an LMS sent are written inside fenced code blocks in the summary, so a hostile district
name cannot become a link or markup in the ticket system that renders it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pandas as pd
import sqlite_utils

from lmsdata import queries
from lmsdata.access import Actor, Permission
from lmsdata.audit import authorize, record
from lmsdata.csvsafe import write_rows
from lmsdata.db import bump_data_version, connect
from lmsdata.mail import Mailer, MailError
from lmsdata.masking import mask_fields, mask_payload, mask_people
from lmsdata.redact import redact

ATTEMPTS = 20  # the last N failed attempts in a bundle
SAMPLES = 10  # sample Clever ids of unmatched users, per role
SECTIONS = 500  # unsynced section ids listed (the count is always exact)
CLUSTER_PREFIX = "cluster:"

FACTS = ("id", "name", "lms_type", "lms_state", "last_lms_sync", "matched_students", "matched_teachers",
         "matched_sections", "students", "teachers", "sections", "unmatched_students", "unmatched_teachers",
         "unsynced_sections", "sis_state", "last_sis_sync", "last_pulled_at", "last_sync_error")  # fmt: skip
HISTORY = ("district_id", "pulled_at", "lms_state", "last_lms_sync", "matched_students", "matched_teachers",
           "matched_sections", "unmatched_students", "unmatched_teachers", "unsynced_sections")  # fmt: skip
FILES = ("summary.md", "district.json", "history.csv", "unmatched.csv", "unsynced_sections.csv",
         "failed_attempts.json")  # fmt: skip


class BundleError(LookupError):
    """No such district or cluster in the cache; the message says where to look."""


@dataclass(frozen=True)
class Bundle:
    subject: str  # the district id, or cluster:KEY (the same subject a case has)
    title: str
    summary: str  # Markdown, also summary.md in the ZIP
    parts: dict[str, Any] = field(repr=False)  # what the files hold, for `--format json`
    files: dict[str, bytes] = field(repr=False)

    @property
    def filename(self) -> str:
        return f"escalation-{self.subject.replace(':', '-')}.zip"

    def zip_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in self.files.items():
                archive.writestr(name, content)
        return buffer.getvalue()


def _status(value: Any) -> int | None:
    """An HTTP status from a cluster row (pandas' missing value: no answer) or a push row."""
    return None if value is None or pd.isna(value) else int(value)


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def cluster_key(cluster: Mapping[str, Any]) -> str:
    """A short stable key for one row of `queries.failure_clusters` (operation, status, error, category)."""
    parts = [cluster.get("kind"), _status(cluster.get("last_status")), cluster.get("error"),
             _text(cluster.get("category"))]
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()[:12]


def find_cluster(db: sqlite_utils.Database, key: str) -> dict[str, Any]:
    key = key.removeprefix(CLUSTER_PREFIX)
    for cluster in queries.failure_clusters(db).to_dict("records"):
        if cluster_key(cluster) == key:
            return cluster
    raise BundleError(f"No failure cluster {key} in the cache now (its pushes may have been sent since); "
                      "see the Failed pushes page for the current ones.")


def for_district(db: sqlite_utils.Database, district_id: str, *, attempts: int = ATTEMPTS,
                 samples: int = SAMPLES, secrets: Iterable[str] = ()) -> Bundle:
    """The bundle of one district, from the cache only."""
    facts = _facts(db, district_id)
    failed, _ = _failed_attempts(db, [district_id], attempts)
    title = f"District {district_id}"
    lines = [*_summary_facts(facts), "", *_summary_problems(failed)]
    return _bundle(db, district_id, title, lines, {"district": facts}, [district_id], failed, samples, secrets)


def for_cluster(db: sqlite_utils.Database, key: str, *, attempts: int = ATTEMPTS, samples: int = SAMPLES,
                secrets: Iterable[str] = ()) -> Bundle:
    """The bundle of one failure cluster: the error, and each district it spans."""
    cluster = find_cluster(db, key)
    key = cluster_key(cluster)
    district_ids = list(cluster["district_ids"])
    failed, people = _failed_attempts(db, district_ids, attempts, cluster=cluster)
    about = {  # Clever's message may name a student: masked for every student of the cluster's pushes
        "key": key, "error": mask_people(cluster["error"], people),
        "operation": cluster["kind"], "category": _text(cluster["category"]),
        "http_status": _status(cluster["last_status"]), "lms_types": cluster["lms_types"],
        "pushes": int(cluster["pushes"]), "first_seen": cluster["first_seen"], "last_seen": cluster["last_seen"],
    }  # fmt: skip
    lines = [f"{name}: {value}" for name, value in about.items()] + ["districts:"]
    districts = [_facts(db, did) for did in district_ids]
    lines += [f"  {d['id']}  {d['name']}  lms_type={d['lms_type']}  lms_state={d['lms_state']}" for d in districts]
    lines += ["", *_summary_problems(failed)]
    return _bundle(db, f"{CLUSTER_PREFIX}{key}", f"Failure cluster {key}", lines,
                   {"cluster": about, "districts": districts}, district_ids, failed, samples, secrets)


def record_download(db_path: str | Path, actor: Actor, bundle: Bundle) -> None:
    """A person took the bundle away (download or CLI): audited like any other disclosure."""
    name = authorize(db_path, actor, Permission.VIEW, action="bundle-download", target=bundle.subject)
    with connect(db_path) as db, db.conn:
        record(db, actor=name, action="bundle-download", target=bundle.subject, outcome="ok",
               params={"files": len(bundle.files)})
        bump_data_version(db)


def send(db_path: str | Path, actor: Actor, bundle: Bundle, *, mailer: Mailer, to: str, mail_from: str) -> str:
    """Mail the bundle (summary in the body, ZIP attached) to the configured escalation address; audited
    either way. Operators only. Returns the Message-ID; raises MailError when the server refuses."""
    name = authorize(db_path, actor, Permission.CASEWORK, action="bundle-send", target=bundle.subject,
                     params={"to": to})
    if not to:
        raise MailError("No escalation address is configured: set LMSDATA_ESCALATION_EMAIL.")
    msg = EmailMessage()
    msg["Subject"] = f"Escalation: {bundle.title}"
    msg["From"] = mail_from
    msg["To"] = to
    msg.set_content(bundle.summary)
    msg.add_attachment(bundle.zip_bytes(), maintype="application", subtype="zip", filename=bundle.filename)
    try:
        message_id = mailer.send(msg)
    except MailError as exc:
        with connect(db_path) as db, db.conn:
            record(db, actor=name, action="bundle-send", target=bundle.subject, outcome="failed",
                   params={"to": to}, detail=str(exc))
            bump_data_version(db)
        raise
    with connect(db_path) as db, db.conn:
        record(db, actor=name, action="bundle-send", target=bundle.subject, outcome="ok",
               params={"to": to, "message_id": message_id})
        bump_data_version(db)
    return message_id


# --- parts --------------------------------------------------------------------------------------


def _facts(db: sqlite_utils.Database, district_id: str) -> dict[str, Any]:
    row = queries.district(db, district_id)
    if row is None:
        raise BundleError(f"The cache has no district {district_id}; `lmsdata status` lists them.")
    return {name: row.get(name) for name in FACTS}


def _unmatched(db: sqlite_utils.Database, district_ids: Sequence[str], samples: int) -> list[dict[str, Any]]:
    rows = []
    for district_id in district_ids:
        for role in ("student", "teacher"):
            count, = db.execute("SELECT COUNT(*) FROM users WHERE district_id = ? AND role = ? AND synced_in_lms = 0",
                                [district_id, role]).fetchone()
            ids = [r[0] for r in db.execute(
                "SELECT id FROM users WHERE district_id = ? AND role = ? AND synced_in_lms = 0 ORDER BY id LIMIT ?",
                [district_id, role, samples])]
            rows.append({"district_id": district_id, "role": role, "unmatched": count,
                         "sample_clever_ids": " ".join(ids)})
    return rows


def _unsynced(db: sqlite_utils.Database, district_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for district_id in district_ids:
        rows += [{"district_id": district_id, "section_id": r[0]} for r in db.execute(
            "SELECT id FROM sections WHERE district_id = ? AND synced_in_lms = 0 ORDER BY id LIMIT ?",
            [district_id, SECTIONS])]
    return rows


def _failed_attempts(db: sqlite_utils.Database, district_ids: Sequence[str], limit: int,
                     cluster: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The newest failed (or outcome-unknown) attempts, with the request body as sent and Clever's answer,
    each masked for its student; and every student of the matching pushes (to mask what they share).
    For a cluster: only attempts of the cluster's pushes."""
    marks = ", ".join("?" for _ in district_ids)
    where = f"p.district_id IN ({marks}) AND a.outcome IN ('failed', 'unknown')"
    params: list[Any] = list(district_ids)
    if cluster is not None:
        where += " AND p.kind = ? AND p.state IN ('failed', 'unknown')"
        params.append(cluster["kind"])
    cursor = db.execute(
        f"""SELECT a.push_id, p.district_id, p.kind, p.section_id, p.assignment_key, p.student_id, p.state,
                   p.category, p.last_status, p.last_message, a.started_at, a.trigger, a.http_status,
                   a.outcome, a.duration_ms, a.message, p.payload,
                   u.first_name, u.last_name, u.email, u.sis_id
            FROM push_attempts a JOIN pushes p ON p.id = a.push_id LEFT JOIN users u ON u.id = p.student_id
            WHERE {where} ORDER BY a.started_at DESC, a.id DESC""", params)  # fmt: skip
    names = [d[0] for d in cursor.description]
    found, people = [], []
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        if cluster is not None and not _in_cluster(row, cluster):
            continue
        person = {"name": " ".join(p for p in (row.pop("first_name"), row.pop("last_name")) if p),
                  "email": row.pop("email"), "sis_id": row.pop("sis_id")}
        people.append(person)
        if len(found) >= limit:
            continue
        try:
            request: Any = json.loads(row.pop("payload") or "{}")
        except ValueError:
            request = "(not JSON)"
        row["request_body"] = mask_fields(mask_payload(request, **person))
        row["response_body"] = mask_payload(row.pop("message"), **person)
        row["last_message"] = mask_payload(row["last_message"], **person)
        found.append(row)
    return found, people


def _in_cluster(row: Mapping[str, Any], cluster: Mapping[str, Any]) -> bool:
    return (row["last_status"] == _status(cluster["last_status"]) and row["category"] == _text(cluster["category"])
            and queries.error_signature(row["last_message"]) == cluster["error"])


# --- summary and files ---------------------------------------------------------------------------


def _summary_facts(facts: Mapping[str, Any]) -> list[str]:
    return [f"{name}: {'' if value is None else value}" for name, value in facts.items()]


def _summary_problems(failed: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["failed attempts (newest first):" if failed else "failed attempts: none recorded"]
    for attempt in failed[:5]:
        lines.append(f"  {attempt['started_at']}  push {attempt['push_id']}  {attempt['kind']}  "
                     f"HTTP {attempt['http_status'] if attempt['http_status'] is not None else '-'}  "
                     f"{' '.join(str(attempt['response_body'] or '').split())[:200]}")
    if len(failed) > 5:
        lines.append(f"  ... {len(failed) - 5} more in failed_attempts.json")
    return lines


def _fenced(lines: Sequence[str]) -> str:
    """Lines inside a code fence longer than any backtick run in them: shown literally by any Markdown."""
    body = "\n".join(lines)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    write_rows(out, rows, columns)
    return out.getvalue()


def _bundle(db: sqlite_utils.Database, subject: str, title: str, lines: list[str], about: dict[str, Any],
            district_ids: Sequence[str], failed: list[dict[str, Any]], samples: int,
            secrets: Iterable[str]) -> Bundle:
    history = [{c: row.get(c) for c in HISTORY} for did in district_ids for row in queries.history(db, did)]
    unmatched = _unmatched(db, district_ids, samples)
    unsynced = _unsynced(db, district_ids)
    lines += ["", "unmatched users (sample Clever ids in unmatched.csv):"]
    lines += [f"  {u['district_id']}  {u['role']}s: {u['unmatched']}" for u in unmatched]
    lines += [f"unsynced sections listed: {len(unsynced)} (ids in unsynced_sections.csv)",
              f"history snapshots: {len(history)} (history.csv)"]
    summary = "\n".join([f"# Escalation for Clever support: {title}", "",
                         "Built by LMS Connect Health from its cache. Student details are masked; students and "
                         "teachers appear as Clever ids only.", "", _fenced(lines),
                         "", "Attached: " + ", ".join(FILES[1:]), ""])  # fmt: skip
    parts = {**about, "history": history, "unmatched": unmatched, "unsynced_sections": unsynced,
             "failed_attempts": failed}
    texts = {
        "summary.md": summary,
        "district.json": json.dumps(about, indent=2, default=str),
        "history.csv": _csv(history, HISTORY),
        "unmatched.csv": _csv(unmatched, ("district_id", "role", "unmatched", "sample_clever_ids")),
        "unsynced_sections.csv": _csv(unsynced, ("district_id", "section_id")),
        "failed_attempts.json": json.dumps(failed, indent=2, default=str),
    }
    known = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def clean(text: str) -> str:
        text = redact(text)
        for secret in known:
            text = text.replace(secret, "[redacted]")
        return text

    cleaned = {name: clean(text) for name, text in texts.items()}
    parts = json.loads(clean(json.dumps(parts, default=str)))
    return Bundle(subject, title, cleaned["summary.md"], parts, {n: t.encode() for n, t in cleaned.items()})

