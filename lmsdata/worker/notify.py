"""Deliver the outbox through Apprise: at most once per (event, channel), a channel that is down retried later.

Each row is claimed before it is sent: in one write transaction its state goes `pending` -> `sending`
(only if still pending, so two deliverers, e.g. the worker and `lmsdata alerts watch`, never both send
it), and `next_attempt_at` becomes the moment the claim counts as interrupted. Then Apprise sends, and
the row becomes `sent`, or `pending` again with a backoff when the channel refused.

The remaining window is honest: a process killed after Apprise handed the message over but before the
row says `sent` leaves it `sending`. A later `deliver` cannot know whether it arrived, so by default it
marks it `unknown` and does not send it again (at most once; the alert's next re-notification or its
resolution still reaches the channel). A channel configured with `at_least_once = true` (a receiver that
drops duplicates itself) gets it re-sent instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import apprise
import sqlite_utils

from lmsdata.pushes.log import iso, write_transaction
from lmsdata.worker.alerts import channel_key
from lmsdata.worker.config import Channel

Send = Callable[[Channel, str, str], bool]

# A claim older than this was interrupted: Apprise's own network timeouts end a send well before.
INTERRUPTED_AFTER = timedelta(minutes=10)
INTERRUPTED = "the sender stopped while this was being sent; it may or may not have arrived"


def apprise_send(channel: Channel, title: str, body: str) -> bool:
    """True when the service behind the channel URL accepted the message."""
    sender = apprise.Apprise()
    sender.add(channel.url)
    return bool(sender.notify(title=title, body=body))


def settle_interrupted(db: sqlite_utils.Database, channels: Sequence[Channel], now: datetime) -> int:
    """Claims left by a killed sender: `unknown` (not re-sent), or `pending` for an at-least-once channel."""
    again = [channel_key(c) for c in channels if c.at_least_once]
    with write_transaction(db):
        stale = db.execute("SELECT id, channel FROM outbox WHERE state = 'sending' AND next_attempt_at <= ?",
                           [iso(now)]).fetchall()
        for row_id, channel in stale:
            state = "pending" if channel in again else "unknown"
            db.execute("UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                       [state, iso(now), INTERRUPTED, row_id])
    return len(stale)


def deliver(db: sqlite_utils.Database, channels: Sequence[Channel], now: datetime, send: Send = apprise_send) -> int:
    """Send every due pending row; returns how many were sent. A failure waits 1, 2, 4 ... up to 60 minutes."""
    by_key = {channel_key(c): c for c in channels}
    settle_interrupted(db, channels, now)
    sent = 0
    rows = list(db.query(
        "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id", [iso(now)]
    ))
    for row in rows:
        channel = by_key.get(row["channel"])
        if channel is None:
            continue  # the channel was removed from the configuration; the row stays for the record
        with write_transaction(db):
            claimed = db.execute(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = ? "
                "WHERE id = ? AND state = 'pending'", [iso(now + INTERRUPTED_AFTER), row["id"]],
            ).rowcount
        if not claimed:
            continue  # another deliverer has it
        ok = send(channel, row["title"], row["body"])
        with write_transaction(db):
            if ok:
                db.execute("UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                           [iso(now), row["id"]])
                sent += 1
            else:
                wait = min(2 ** int(row["attempts"]), 60)
                db.execute(
                    "UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
                    [iso(now + timedelta(minutes=wait)), "the channel did not accept the message", row["id"]])
    return sent
