"""A webhook receiver on 127.0.0.1 that keeps the JSON it is sent: the demo's notification channel.

Registered with the embedded worker as the Apprise channel `json://127.0.0.1:PORT/`, so a new user sees
what the alerts would have posted to Slack or Teams. `fail_next` makes it answer 500 that many times
(a channel that is down), as the delivery tests need.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 256 * 1024
KEPT = 500


class WebhookSink:
    """Serve on a free loopback port at once; `close()` stops it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        self.fail_next = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                raw = self.rfile.read(length)
                self.send_response(sink._keep(raw))
                self.end_headers()

            def log_message(self, *args: object) -> None:  # the demo's console stays quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="lmsdata-webhook-sink", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The Apprise URL of this receiver."""
        return f"json://127.0.0.1:{self._server.server_port}/"

    @property
    def received(self) -> list[dict[str, Any]]:
        """What was posted, oldest first: the JSON body (or the raw text) and when it came."""
        with self._lock:
            return list(self._received)

    def _keep(self, raw: bytes) -> int:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"message": raw.decode("utf-8", "replace")}
            entry = body if isinstance(body, dict) else {"message": body}
            self._received.append({**entry, "received_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
            del self._received[:-KEPT]
            return 200

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
