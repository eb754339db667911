"""Clever's per-token limit: a fixed window aligned to the minute, headers on every response."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

WINDOW_S = 60


class RateLimiter:
    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        if limit < 1:
            raise ValueError("rate_limit must be at least 1 request a minute")
        self.limit, self.clock = limit, clock
        self._windows: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> tuple[bool, list[tuple[str, str]]]:
        """Count one request for `key`; (allowed, X-RateLimit-* headers)."""
        window = int(self.clock() // WINDOW_S) * WINDOW_S
        with self._lock:
            start, used = self._windows.get(key, (window, 0))
            if start != window:
                used = 0
            allowed = used < self.limit
            used += allowed
            self._windows[key] = (window, used)
        return allowed, [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(self.limit - used)),
            ("X-RateLimit-Reset", str(window + WINDOW_S)),
            ("X-RateLimit-Bucket", bucket_name(key)),
        ]


def bucket_name(key: str) -> str:
    """A stable bucket label that does not reveal the token."""
    return hashlib.sha1(key.encode()).hexdigest()[:12]
