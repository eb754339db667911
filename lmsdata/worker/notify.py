"""Deliver the outbox through Apprise: a channel that is down is retried later, a sent row never again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import apprise
import sqlite_utils

from lmsdata.pushes.log import iso
from lmsdata.worker.alerts import channel_key
from lmsdata.worker.config import Channel

Send = Callable[[Channel, str, str], bool]


def apprise_send(channel: Channel, title: str, body: str) -> bool:
    """True when the service behind the channel URL accepted the message."""
    sender = apprise.Apprise()
    sender.add(channel.url)
    return bool(sender.notify(title=title, body=body))


def deliver(db: sqlite_utils.Database, channels: Sequence[Channel], now: datetime, send: Send = apprise_send) -> int:
    """Send every due pending row; returns how many were sent. A failure waits 1, 2, 4 ... up to 60 minutes."""
    by_key = {channel_key(c): c for c in channels}
    sent = 0
    rows = list(db.query(
        "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id", [iso(now)]
    ))
    for row in rows:
        channel = by_key.get(row["channel"])
        if channel is None:
            continue  # the channel was removed from the configuration; the row stays for the record
        if send(channel, row["title"], row["body"]):
            db.execute("UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                       [iso(now), row["id"]])
            sent += 1
        else:
            wait = min(2 ** int(row["attempts"]), 60)
            db.execute("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                       [iso(now + timedelta(minutes=wait)), "the channel did not accept the message", row["id"]])
    return sent
