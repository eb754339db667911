"""Fault profiles and one-off injections, deterministic under the seed.

The n-th request of each credential draws from `Random(seed, credential, n)`, so a sequential
client sees the same faults on every run, whatever other districts do concurrently.
"""

from __future__ import annotations

import errno
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from lmsdata.sandbox.http import Response, empty, message

PROFILES = ("none", "flaky", "hostile")
HTML_ERROR = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
              b"<h1>502 Bad Gateway</h1><p>The server returned an invalid or incomplete response."
              b"</p><hr><center>nginx</center></body></html>")


class DropConnection(ConnectionResetError, httpx.RemoteProtocolError):
    """Raised by the app to close the socket without a response.

    It carries `errno.ECONNRESET` in `args[0]`: cheroot closes the connection silently on the socket
    errors it ignores (any other exception would become a 500), so an HTTP client sees the server hang
    up; an in-process `httpx.WSGITransport` client sees the same `httpx.RemoteProtocolError`.
    """

    def __init__(self, message: str) -> None:
        httpx.RemoteProtocolError.__init__(self, message)
        ConnectionResetError.__init__(self, errno.ECONNRESET, message)  # last: it sets args = (errno, message)


@dataclass
class Fault:
    """What to do to one request. `before` faults replace the response; `after` ones spoil it."""

    kind: str  # error | html | storm | slow | drop | drop_after | truncate | malformed
    status: int = 0


# (upper bound of the draw, fault) per profile; anything above the last bound is a normal reply.
_TABLES: dict[str, list[tuple[float, Fault]]] = {
    "none": [],
    "flaky": [(0.015, Fault("error", 503)), (0.03, Fault("error", 502)), (0.04, Fault("slow")),
              (0.045, Fault("drop")), (0.05, Fault("drop_after"))],
    "hostile": [(0.02, Fault("html", 502)), (0.035, Fault("error", 503)), (0.05, Fault("storm")),
                (0.065, Fault("slow")), (0.08, Fault("truncate")), (0.09, Fault("malformed")),
                (0.095, Fault("drop")), (0.10, Fault("drop_after"))],
}


@dataclass
class Injection:
    path_contains: str
    method: str | None
    status: int | None
    delay_s: float | None
    drop: bool
    body: Any
    count: int
    after_handling: bool = False  # delay/drop the reply of a request that already took effect

    def response(self) -> Response:
        assert self.status is not None
        if self.body is None:
            return empty(self.status) if self.status == 429 else message(self.status, "Injected failure")
        if isinstance(self.body, bytes | str):
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            kind = "text/html; charset=utf-8" if raw.lstrip().startswith(b"<") else "application/json"
            return Response(self.status, raw, kind)
        return Response(self.status, json.dumps(self.body).encode())


class Faults:
    """Draws each request's fault; a 429 storm counts requests, not seconds.

    A storm answers 429 to `storm_requests` requests of that credential in a row (the one that drew it
    included), so how fast the server answers never changes how many requests a run sees in storms.
    """

    def __init__(self, profile: str, seed: int, clock: Callable[[], float], slow_s: float,
                 storm_requests: int) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown fault profile {profile!r}; use one of {', '.join(PROFILES)}")
        if storm_requests < 1:
            raise ValueError(f"storm_requests must be at least 1, not {storm_requests}")
        self.profile, self.seed, self.clock = profile, seed, clock
        self.slow_s, self.storm_requests = slow_s, storm_requests
        self._counts: dict[str, int] = {}
        self._storms: dict[str, int] = {}  # credential -> 429s its current storm has still to answer
        self._injections: list[Injection] = []
        self._lock = threading.Lock()

    def inject(self, injection: Injection) -> None:
        with self._lock:
            self._injections.append(injection)

    def take_injection(self, method: str, path: str) -> Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.path_contains in path and injection.method in (None, method):
                    injection.count -= 1
                    if injection.count <= 0:
                        self._injections.remove(injection)
                    return injection
        return None

    def draw(self, key: str) -> tuple[int, Fault | None]:
        """(this credential's request number, the fault for it or None)."""
        with self._lock:
            n = self._counts.get(key, 0) + 1
            self._counts[key] = n
            left = self._storms.pop(key, 0)
            if left > 0:
                if left > 1:
                    self._storms[key] = left - 1
                return n, Fault("storm")
            roll = random.Random(f"fault:{self.seed}:{key}:{n}").random()
            for bound, fault in _TABLES[self.profile]:
                if roll < bound:
                    if fault.kind == "storm" and self.storm_requests > 1:
                        self._storms[key] = self.storm_requests - 1
                    return n, fault
        return n, None

    def storm_reset(self, key: str) -> int:
        """X-RateLimit-Reset during a storm: the next whole second (a storm ends by count, not time)."""
        return int(self.clock()) + 1


def spoil(response: Response, fault: Fault) -> Response:
    """Apply an `after` fault to a finished response (the request already took effect)."""
    body = response.body
    if fault.kind == "truncate" and len(body) > 2:
        return Response(response.status, body[: len(body) // 2], response.content_type, response.headers)
    if fault.kind == "malformed" and body:
        return Response(response.status, body.replace(b'":', b'"=', 1) + b"}", response.content_type,
                        response.headers)
    return response
