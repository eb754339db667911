"""Data API range paging: ascending ids, `limit`, `starting_after`, `ending_before`, links."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from urllib.parse import urlencode

from lmsdata.sandbox.data import Collection
from lmsdata.sandbox.http import Request, Response, message

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def parse_limit(request: Request) -> int | Response:
    raw = request.param("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        return message(400, f'limit must be an integer: "{raw}"')
    if limit > MAX_LIMIT:
        return message(413, "Request entity too large")
    if limit < 1:
        return message(400, "limit must be greater than 0")
    return limit


def page(request: Request, items: Collection, limit: int) -> Response:
    """One page of `items` as `{"data": [...], "links": [...]}` (items are pre-wrapped)."""
    after, before = request.param("starting_after"), request.param("ending_before")
    ids = items.ids
    lo = bisect_right(ids, after) if after else 0
    hi = len(ids) if before in (None, "", "last") else bisect_left(ids, before)
    hi = max(hi, lo)
    if before and not after:
        start, end = max(lo, hi - limit), hi
    else:
        start, end = lo, min(hi, lo + limit)
    links = [("self", request.target)]
    if end > start:
        if before and not after:
            if start > lo:
                links.append(("prev", _link(request, ending_before=ids[start])))
            links.append(("next", _link(request, starting_after=ids[end - 1])))
        else:
            if end < hi:
                links.append(("next", _link(request, starting_after=ids[end - 1])))
            if after:
                links.append(("prev", _link(request, ending_before=ids[start])))
    links_json = json.dumps([{"rel": rel, "uri": uri} for rel, uri in links], separators=(",", ":"))
    body = b'{"data":[' + b",".join(items.blobs[start:end]) + b'],"links":' + links_json.encode() + b"}"
    return Response(200, body)


def _link(request: Request, **cursor: str) -> str:
    params = [(k, v) for k, vs in request.query.items() for v in vs
              if k not in ("starting_after", "ending_before")]
    params.extend(cursor.items())
    return f"{request.path}?{urlencode(params)}"
