"""The daily digest: one notification saying what changed since the previous digest.

New and resolved alerts, districts whose lms_state changed, pushes that failed and pushes that recovered.
It is queued in the outbox under `digest:YYYY-MM-DD` (INSERT OR IGNORE), so however often the job runs
on a day (a restart, a missed schedule caught up), that day's digest is queued once per channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from lmsdata.pushes.log import iso, parse_time, write_transaction
from lmsdata.queries import FAILED_STATES
from lmsdata.redact import redact
from lmsdata.wording import plural
from lmsdata.worker.alerts import channel_key
from lmsdata.worker.config import Channel

RULE = "digest"  # what a channel lists in `rules` to receive the digest ('*' receives it too)


def event_key(now: datetime) -> str:
    return f"digest:{now.date().isoformat()}"


def previous_digest(db: sqlite_utils.Database, now: datetime) -> datetime | None:
    """When the last digest before today's was queued."""
    row = db.execute("SELECT MAX(created_at) FROM outbox WHERE event_key LIKE 'digest:%' AND event_key < ?",
                     [event_key(now)]).fetchone()
    return parse_time(row[0]) if row and row[0] else None


def changes(db: sqlite_utils.Database, since: datetime) -> dict[str, list[dict[str, Any]]]:
    """What the digest reports, each a list of rows (tests read these; `compose` words them)."""
    at = iso(since)
    names = {r[0]: r[1] or r[0] for r in db.execute("SELECT id, name FROM districts").fetchall()}
    failed = ", ".join("?" for _ in FAILED_STATES)
    return {
        "opened": list(db.query("SELECT id, rule, subject, detail FROM alerts WHERE opened_at >= ? ORDER BY id", [at])),
        "resolved": list(db.query(
            "SELECT id, rule, subject, resolution FROM alerts WHERE resolved_at >= ? ORDER BY id", [at])),
        "districts": [
            {**r, "name": names.get(r["id"], r["id"])} for r in db.query(
                "SELECT d.id, h.lms_state AS was, d.lms_state AS now FROM districts d JOIN district_history h "
                "ON h.id = (SELECT id FROM district_history WHERE district_id = d.id AND pulled_at < ? "
                "ORDER BY pulled_at DESC, id DESC LIMIT 1) "
                "WHERE COALESCE(h.lms_state, '') != COALESCE(d.lms_state, '') ORDER BY d.id", [at])
        ],
        "failed": list(db.query(
            f"SELECT district_id, COUNT(*) AS n FROM pushes WHERE state IN ({failed}) AND updated_at >= ? "
            "GROUP BY district_id ORDER BY district_id", [*FAILED_STATES, at])),
        "recovered": list(db.query(
            "SELECT district_id, COUNT(*) AS n FROM pushes p WHERE state = 'sent' AND updated_at >= ? AND EXISTS "
            "(SELECT 1 FROM push_attempts a WHERE a.push_id = p.id AND a.outcome = 'failed') "
            "GROUP BY district_id ORDER BY district_id", [at])),
    }


def compose(found: dict[str, list[dict[str, Any]]], since: datetime, now: datetime) -> tuple[str, str]:
    """(title, body) in plain text: one line per section, names as Clever spells them."""
    failed = sum(int(r["n"]) for r in found["failed"])
    recovered = sum(int(r["n"]) for r in found["recovered"])
    title = (f"Daily digest {now:%Y-%m-%d}: {plural(len(found['opened']), 'new alert')}, "
             f"{len(found['resolved'])} resolved, {plural(len(found['districts']), 'district')} changed")
    lines = [f"Since {since:%Y-%m-%d %H:%M} UTC:"]
    lines += [f"- new alert #{a['id']}: {a['rule']} ({a['subject']}): {a['detail']}" for a in found["opened"]]
    lines += [f"- resolved #{a['id']}: {a['rule']} ({a['subject']})" for a in found["resolved"]]
    lines += [f"- {d['name']} ({d['id']}): lms_state {d['was'] or 'not set'} -> {d['now'] or 'not set'}"
              for d in found["districts"]]
    lines.append(f"- {plural(failed, 'grade push')} failed, {recovered} recovered")
    if len(lines) == 2 and not failed and not recovered:
        lines.append("Nothing else changed.")
    return title, "\n".join(lines)


def queue_digest(db: sqlite_utils.Database, channels: Sequence[Channel], now: datetime) -> str:
    """Queue today's digest for every channel that receives it, once per day; one line back for the job."""
    receiving = [c for c in channels if c.receives(RULE)]
    if not receiving:
        return "no channel receives the digest"
    key = event_key(now)
    if db.execute("SELECT 1 FROM outbox WHERE event_key = ?", [key]).fetchone():
        return f"{key} already queued"
    since = previous_digest(db, now) or now - timedelta(days=1)
    title, body = compose(changes(db, since), since, now)
    with write_transaction(db):
        for channel in receiving:
            db.execute(
                "INSERT OR IGNORE INTO outbox (event_key, channel, title, body, created_at, state, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                [key, channel_key(channel), redact(title), redact(body), iso(now), iso(now)],
            )
    return f"{key} queued for {plural(len(receiving), 'channel')}: {title}"
