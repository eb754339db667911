"""The demo's loopback webhook receiver (`lmsdata.worker.receiver.WebhookSink`, Apprise `json://`, Slack-compatible
JSON, `fail_next` answers 500) as a context manager for the delivery tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lmsdata.worker.receiver import WebhookSink

Receiver = WebhookSink


@contextlib.contextmanager
def webhook_receiver() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.close()
