"""The Clever v3.1 client: token listing, Data API paging, LMS Connect calls.

Why it looks the way it does (see docs/sync.md):
- One shared `httpx.Client` (thread-safe) and one `DistrictClient` per district token, because
  Clever limits requests per token: each token has its own pacer fed by the X-RateLimit-* headers.
- Only requests that cannot change anything twice are retried automatically (GET on 5xx, dropped
  connections, timeouts and unreadable bodies). Any request is retried after a 429 or a refused
  connection, because Clever did not process it. A write that timed out raises
  `RequestTimeout` with `.outcome_unknown`: the caller decides, never this module.
- Tokens and the client secret are registered with `lmsdata.redact` as soon as they are known.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from lmsdata.config import Settings
from lmsdata.errors import (
    BadRequest,
    BadResponse,
    CleverError,
    RateLimited,
    RequestTimeout,
    TokenRevoked,
    error_for_status,
)
from lmsdata.models import DistrictToken, Event, parse_event, unwrap
from lmsdata.redact import redact, register_secret

log = logging.getLogger("lmsdata.client")

DATA_PAGE_LIMIT = 10_000  # Clever answers 413 above this
SUBMISSIONS_PAGE_LIMIT = 100  # the LMS Connect maximum
READ_METHODS = frozenset({"GET", "HEAD"})
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


class BadCredentials(TokenRevoked):
    hint = "Clever refused the app's client id and secret: check CLEVER_CLIENT_ID and CLEVER_CLIENT_SECRET."


@dataclass(frozen=True)
class ClientOptions:
    """Timeouts follow Clever's advice (15-60 s for grade writes); retries are bounded."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    write_timeout: float = 60.0
    max_attempts: int = 6  # per request, for 5xx / dropped connections / timeouts / bad bodies
    max_rate_limit_waits: int = 8  # 429s in a row before giving up
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    reserve_fraction: float = 0.02  # of each window's budget, left for other users of the same token
    reset_guard: float = 0.25  # seconds added to X-RateLimit-Reset against clock skew
    max_connections: int = 32
    data_page_limit: int = DATA_PAGE_LIMIT  # smaller only to reproduce small-page clients (bench, tests)


class RatePacer:
    """Keeps one token under the limit its X-RateLimit-* headers report.

    Clever's window is fixed and resets every minute, so the pacer spends the window's budget and
    then waits for the reset instead of spreading requests evenly: same safety, more throughput.
    """

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None], options: ClientOptions) -> None:
        self._clock = clock
        self._sleep = sleep
        self._options = options
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset: float | None = None

    def _reserve(self) -> int:
        return max(1, math.ceil((self.limit or 0) * self._options.reserve_fraction))

    def acquire(self) -> None:
        """Block until this token may send one more request, and count it."""
        while True:
            with self._lock:
                now = self._clock()
                if self.reset is not None and now >= self.reset:
                    self.remaining, self.reset = None, None
                if self.remaining is None or self.remaining > self._reserve():
                    if self.remaining is not None:
                        self.remaining -= 1
                    return
                wait = (self.reset or now) - now
            log.debug("pacing: waiting %.1fs for the rate-limit window to reset", wait)
            self._sleep(max(wait, 0.01))

    def observe(self, headers: httpx.Headers) -> None:
        limit = _header_number(headers, "x-ratelimit-limit")
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = _header_number(headers, "x-ratelimit-reset")
        with self._lock:
            if limit is not None:
                self.limit = int(limit)
            if reset is not None:
                reset += self._options.reset_guard
                if self.reset is None or reset > self.reset + 0.5:
                    self.reset, self.remaining = reset, None  # a new window
            if remaining is not None and self.reset is not None:
                local = self.remaining
                self.remaining = int(remaining) if local is None else min(local, int(remaining))

    def rate_limited(self, headers: httpx.Headers, fallback: float) -> float:
        """After a 429: how long to wait, and no more requests from anyone until then."""
        reset = _header_number(headers, "x-ratelimit-reset")
        with self._lock:
            now = self._clock()
            until = reset + self._options.reset_guard if reset is not None and reset > now else now + fallback
            self.reset, self.remaining = until, 0
            return until - now


def _header_number(headers: httpx.Headers, name: str) -> float | None:
    """The first value of a numeric header (a proxy may append a second one)."""
    values = headers.get_list(name, split_commas=True)
    try:
        return float(values[0]) if values else None
    except ValueError:
        return None


def decode_json(content: bytes) -> Any:
    """JSON from a body; {} when empty. Decoding UTF-8 first parses about twice as fast as giving
    json.loads the bytes (which decodes with 'surrogatepass', slow on non-ASCII names)."""
    if not content.strip():
        return {}
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return json.loads(content)  # UTF-16/32 bodies: let json detect the encoding
    return json.loads(text)


def error_text(response: httpx.Response) -> str:
    """Clever's message from `message`, `error`, or the raw body (HTML reduced to its words)."""
    raw = response.text.strip()
    if not raw:
        return ""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        found = body.get("message") or body.get("error")
        if isinstance(found, str) and found:
            return found
    if "<" in raw and ">" in raw:
        title = re.search(r"(?is)<title[^>]*>(.*?)</title>", raw)
        raw = title.group(1) if title else _TAGS.sub(" ", raw)
    raw = _SPACES.sub(" ", raw).strip()
    return raw if len(raw) <= 200 else raw[:197] + "..."


def jittered_backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (from 0): exponential, capped, jittered over its upper half."""
    ceiling = min(cap, base * 2**attempt)
    return rng.uniform(ceiling / 2, ceiling)


class _Transport:
    """The retry, pacing and error-mapping loop every request goes through."""

    def __init__(
        self,
        http: httpx.Client,
        options: ClientOptions,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.http = http
        self.options = options
        self.sleep = sleep
        self.clock = clock
        self.rng = rng

    def backoff(self, attempt: int) -> float:
        return jittered_backoff(attempt, self.options.backoff_base, self.options.backoff_cap, self.rng)

    def send(
        self,
        method: str,
        url: str,
        *,
        auth_header: str,
        pacer: RatePacer,
        counter: Callable[[], None],
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        district_id: str | None = None,
    ) -> Any:
        """Send one logical request; return the decoded JSON body (or {} for an empty body)."""
        options = self.options
        read_only = method in READ_METHODS
        timeout = httpx.Timeout(
            options.read_timeout if read_only else options.write_timeout, connect=options.connect_timeout
        )
        path = urlsplit(url).path
        context = {"method": method, "path": path, "district_id": district_id}
        failures = waits = 0
        while True:
            pacer.acquire()
            counter()
            try:
                response = self.http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={"Authorization": auth_header, "Accept": "application/json"},
                    timeout=timeout,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure: CleverError = RequestTimeout(f"could not connect: {exc}", write=False, **context)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                detail = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection dropped"
                failure = RequestTimeout(detail, write=not read_only, **context)
                if not read_only:
                    raise failure from exc
            else:
                pacer.observe(response.headers)
                status = response.status_code
                if status == 429:
                    waits += 1
                    if waits > options.max_rate_limit_waits:
                        raise RateLimited(error_text(response), status=429, **context)
                    wait = pacer.rate_limited(response.headers, fallback=self.backoff(waits))
                    log.info("429 on %s %s: waiting %.1fs for the rate-limit reset", method, path, wait)
                    self.sleep(wait)
                    continue
                if status < 400:
                    try:
                        return decode_json(response.content)
                    except ValueError:
                        failure = BadResponse(f"unreadable JSON body (HTTP {status})", status=status, **context)
                else:
                    failure = error_for_status(status)(error_text(response), status=status, **context)
                    if not (status >= 500 and read_only):
                        raise failure
                if not read_only:
                    raise failure
            failures += 1
            if failures >= options.max_attempts:
                raise failure
            wait = self.backoff(failures - 1)
            log.info("%s; retrying in %.1fs (attempt %d of %d)", redact(str(failure)), wait, failures + 1,
                     options.max_attempts)
            self.sleep(wait)


class DistrictClient:
    """Every call for one district, with that district's token and pacer."""

    def __init__(self, transport: _Transport, api_url: str, token: DistrictToken, pacer: RatePacer) -> None:
        self.district_id = token.district_id
        self._transport = transport
        self._api_url = api_url
        self._auth = f"Bearer {token.token}"
        self._pacer = pacer
        self._lock = threading.Lock()
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"DistrictClient(district_id={self.district_id!r}, requests_made={self.requests_made})"

    def _count(self) -> None:
        with self._lock:
            self.requests_made += 1

    def _url(self, path_or_uri: str) -> str:
        if path_or_uri.startswith(("http://", "https://")):
            return path_or_uri
        prefix = urlsplit(self._api_url).path.rstrip("/")
        if prefix and path_or_uri.startswith(prefix + "/"):
            path_or_uri = path_or_uri[len(prefix) :]
        return self._api_url + path_or_uri

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        return self._transport.send(
            method,
            self._url(path),
            auth_header=self._auth,
            pacer=self._pacer,
            counter=self._count,
            params=params,
            body=body,
            district_id=self.district_id,
        )

    def _data(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = self.request(method, path, body=body)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping):
            raise BadResponse("the answer has no `data` object", status=200, method=method, path=path,
                              district_id=self.district_id)
        return dict(data)

    def _listing(self, path: str, query: Mapping[str, Any]) -> Iterator[list[Any]]:
        """The raw `data` list of each page, following `next` links until none, an empty page, or a loop."""
        url: str | None = path
        params: Mapping[str, Any] | None = query
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            answer = self.request("GET", url, params=params)
            data = answer.get("data") if isinstance(answer, Mapping) else None
            if not isinstance(data, list):
                raise BadResponse("the listing has no `data` list", status=200, method="GET", path=path,
                                  district_id=self.district_id)
            if not data:
                return
            yield data
            url, params = next_link(answer), None

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Each page of a Data API listing, items unwrapped, following `next` links to the end."""
        query = {"limit": self._transport.options.data_page_limit, **(params or {})}
        for data in self._listing(path, query):
            yield list(unwrap(data))

    def _iter(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        for page in self.pages(path, params):
            yield from page

    def get_district(self) -> dict[str, Any]:
        return self._data("GET", f"/v3.1/districts/{self.district_id}")

    def iter_users(self, role: str | None = None) -> Iterator[dict[str, Any]]:
        return self._iter("/v3.1/users", {"role": role} if role else None)

    def iter_sections(self) -> Iterator[dict[str, Any]]:
        return self._iter("/v3.1/sections")

    def iter_schools(self) -> Iterator[dict[str, Any]]:
        return self._iter("/v3.1/schools")

    def iter_terms(self) -> Iterator[dict[str, Any]]:
        return self._iter("/v3.1/terms")

    def iter_events(self, starting_after: str | None = None) -> Iterator[Event]:
        """Events oldest first; items without an id or type are skipped."""
        for item in self._iter("/v3.1/events", {"starting_after": starting_after} if starting_after else None):
            event = parse_event(item)
            if event is not None:
                yield event

    def latest_event_id(self) -> str | None:
        """The newest event id, or None when the feed is empty (one request: `ending_before=last`)."""
        try:
            answer = self.request("GET", "/v3.1/events", params={"ending_before": "last", "limit": 1})
        except BadRequest:
            last = None
            for event in self.iter_events():
                last = event.id
            return last
        data = answer.get("data") if isinstance(answer, Mapping) else None
        items = list(unwrap(data)) if isinstance(data, list) else []
        return str(items[-1].get("id")) if items and items[-1].get("id") else None

    # LMS Connect (grade passback)
    def _assignment_path(self, section_id: str, assignment_id: str | None = None) -> str:
        path = f"/v3.1/sections/{section_id}/assignments"
        return f"{path}/{assignment_id}" if assignment_id else path

    def create_assignment(self, section_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._data("POST", self._assignment_path(section_id), dict(body))

    def update_assignment(self, section_id: str, assignment_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._data("PATCH", self._assignment_path(section_id, assignment_id), dict(body))

    def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]:
        return self._data("GET", self._assignment_path(section_id, assignment_id))

    def delete_assignment(self, section_id: str, assignment_id: str) -> None:
        self.request("DELETE", self._assignment_path(section_id, assignment_id))

    def iter_submissions(self, section_id: str, assignment_id: str) -> Iterator[dict[str, Any]]:
        """Submissions (bare items, opaque cursor, `next` only), each user once.

        A `next` link expires two hours after the listing began; if Clever refuses it, the listing
        restarts from the first page once and skips the submissions already yielded.
        Keyed by `user_id`: `Submission.id` is deprecated.
        """
        path = self._assignment_path(section_id, assignment_id) + "/submissions"
        seen: set[Any] = set()
        for attempt in (1, 2):
            try:
                for data in self._listing(path, {"limit": SUBMISSIONS_PAGE_LIMIT}):
                    for item in data:
                        if isinstance(item, dict) and item.get("user_id") not in seen:
                            seen.add(item.get("user_id"))
                            yield item
                return
            except BadRequest as exc:
                if attempt == 2 or not seen or "cursor" not in exc.message.lower():
                    raise
                log.info("submissions cursor refused (%s); listing again from the first page", exc.message)

    def _submission_path(self, section_id: str, assignment_id: str, user_id: str) -> str:
        return f"{self._assignment_path(section_id, assignment_id)}/submissions/{user_id}"

    def get_submission(self, section_id: str, assignment_id: str, user_id: str) -> dict[str, Any]:
        return self._data("GET", self._submission_path(section_id, assignment_id, user_id))

    def update_submission(
        self, section_id: str, assignment_id: str, user_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._data("PATCH", self._submission_path(section_id, assignment_id, user_id), dict(body))


def next_link(answer: Any) -> str | None:
    links = answer.get("links") if isinstance(answer, Mapping) else None
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("rel") == "next" and isinstance(link.get("uri"), str):
            return str(link["uri"])
    return None


class CleverClient:
    """The app's view of Clever: its district tokens and a `DistrictClient` per district."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        api_url: str,
        oauth_url: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        options: ClientOptions | None = None,
        rng: random.Random | None = None,
    ) -> None:
        register_secret(client_secret)
        self.options = options or ClientOptions()
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self._basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        register_secret(self._basic.split(" ", 1)[1])
        limits = httpx.Limits(
            max_connections=self.options.max_connections, max_keepalive_connections=self.options.max_connections
        )
        self._http = httpx.Client(transport=transport, limits=limits, follow_redirects=False)
        self._transport = _Transport(self._http, self.options, sleep, clock, rng or random.Random())
        self._sleep, self._clock = sleep, clock
        self._lock = threading.Lock()
        self._listing = threading.Lock()  # one token listing at a time: concurrent first callers wait for it
        self._tokens: dict[str, DistrictToken] | None = None
        self._districts: dict[str, DistrictClient] = {}
        self._oauth_pacer = RatePacer(clock, sleep, self.options)
        self.token_requests = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        options: ClientOptions | None = None,
    ) -> CleverClient:
        return cls(
            settings.client_id,
            settings.client_secret,
            api_url=settings.api_url,
            oauth_url=settings.oauth_url,
            transport=transport,
            sleep=sleep,
            clock=clock,
            options=options,
        )

    def __enter__(self) -> CleverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def requests_made(self) -> int:
        """Every request this client sent: token listing plus all districts."""
        with self._lock:
            return self.token_requests + sum(dc.requests_made for dc in self._districts.values())

    def _count_token_request(self) -> None:
        with self._lock:
            self.token_requests += 1

    def district_tokens(self) -> list[DistrictToken]:
        """Every district that authorized the app (one listing per client; cached)."""
        with self._listing:
            if self._tokens is None:
                self._tokens = self._list_tokens()
            return list(self._tokens.values())

    def _list_tokens(self) -> dict[str, DistrictToken]:
        tokens: dict[str, DistrictToken] = {}
        url: str | None = f"{self.oauth_url}/oauth/tokens"
        params: Mapping[str, Any] | None = {"owner_type": "district"}
        try:
            while url:
                answer = self._transport.send(
                    "GET", url, auth_header=self._basic, pacer=self._oauth_pacer,
                    counter=self._count_token_request, params=params,
                )  # fmt: skip
                for item in answer.get("data") or [] if isinstance(answer, Mapping) else []:
                    token = _district_token(item)
                    if token is not None:
                        tokens[token.district_id] = token
                uri = next_link(answer)
                url = None if uri is None else (uri if uri.startswith("http") else self.oauth_url + uri)
                params = None
        except TokenRevoked as exc:
            raise BadCredentials(exc.message, status=exc.status, method=exc.method, path=exc.path) from None
        return tokens

    def district(self, district_id: str) -> DistrictClient:
        """The client for one district; raises TokenRevoked when the app has no token for it."""
        with self._lock:
            known = self._districts.get(district_id)
        if known is not None:
            return known
        tokens = {t.district_id: t for t in self.district_tokens()}
        if district_id not in tokens:
            raise TokenRevoked(
                "the app has no token for this district (never connected, or disconnected since)",
                district_id=district_id,
            )
        with self._lock:
            if district_id not in self._districts:
                pacer = RatePacer(self._clock, self._sleep, self.options)
                self._districts[district_id] = DistrictClient(self._transport, self.api_url, tokens[district_id],
                                                              pacer)
            return self._districts[district_id]


def _district_token(item: Any) -> DistrictToken | None:
    if not isinstance(item, Mapping):
        return None
    item = item.get("data") if isinstance(item.get("data"), Mapping) and "owner" not in item else item
    owner = item.get("owner") if isinstance(item.get("owner"), Mapping) else {}
    token = item.get("access_token")
    if owner.get("type", "district") != "district" or not owner.get("id") or not isinstance(token, str) or not token:
        return None
    register_secret(token)
    return DistrictToken(district_id=str(owner["id"]), token=token)
