"""How fast the `large` sandbox serves 10000-item Data API pages over loopback, and its memory.

Run: .venv/bin/python bench/sandbox.py [--repeat 3]

Baselines measured in the same run, on the same data and the same threaded wsgiref server:
  * the same sandbox paged with Clever's customary 100-item pages;
  * a naive server that keeps users as dicts and runs `json.dumps` on each page per request.
Peak memory is the process's max RSS (client and server share the process), read after each phase.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import httpx

from lmsdata.sandbox import Sandbox, serve
from lmsdata.sandbox.data import unwrap
from lmsdata.sandbox.server import Server

ITEM_URI = re.compile(rb'"uri": ?"/v3\.1/users/')


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def next_link(body: bytes) -> str | None:
    """The rel=next uri from the links at the end of a page, without parsing the whole page."""
    links = json.loads(body[body.rindex(b'"links":') + 8 : -1])
    return next((link["uri"] for link in links if link["rel"] == "next"), None)


def walk(client: httpx.Client, limit: int) -> tuple[int, int, int]:
    """Follow next links through every user; (pages, items, bytes)."""
    uri: str | None = f"/v3.1/users?limit={limit}"
    pages = items = size = 0
    while uri:
        response = client.get(uri)
        response.raise_for_status()
        body = response.content
        pages += 1
        size += len(body)
        items += len(ITEM_URI.findall(body))
        uri = next_link(body)
    return pages, items, size


def timed(repeat: int, run: Callable[[], tuple[int, int, int]]) -> tuple[float, int, int, int]:
    best = float("inf")
    result = (0, 0, 0)
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return (best, *result)


class NaiveUsers:
    """Baseline: the same users as dicts, one `json.dumps` per page per request."""

    def __init__(self, users: list[dict[str, Any]]) -> None:
        self.users = users
        self.ids = [u["id"] for u in users]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        limit = int(query.get("limit", 100))
        start = bisect_right(self.ids, query["starting_after"]) if "starting_after" in query else 0
        page = self.users[start : start + limit]
        links = [{"rel": "self", "uri": environ["PATH_INFO"]}]
        if start + limit < len(self.users):
            links.append({"rel": "next", "uri": f"/v3.1/users?limit={limit}&starting_after={page[-1]['id']}"})
        body = json.dumps({"data": [{"data": u, "uri": f"/v3.1/users/{u['id']}"} for u in page],
                           "links": links}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    args = parser.parse_args()

    started = time.perf_counter()
    sandbox = Sandbox(seed=7, scale="large", rate_limit=10**9)  # measure serving, not the limiter
    startup = time.perf_counter() - started
    plans = sandbox.world.plans
    biggest = max(plans, key=lambda p: p.users)
    did = sandbox.district_ids()[biggest.index]
    print(f"large: {len(plans)} districts, {sum(p.users for p in plans):,} users, "
          f"{sum(p.users > 50_000 for p in plans)} over 50,000; Sandbox() in {startup * 1000:.1f} ms")
    print(f"peak RSS after start: {peak_mb():.0f} MB")

    server = serve(sandbox)
    headers = {"Authorization": f"Bearer {sandbox.token_for(did)}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
        cold = time.perf_counter()
        client.get("/v3.1/users?limit=10000").raise_for_status()
        print(f"first 10000-item page of the biggest district ({biggest.users:,} users, generated on demand): "
              f"{time.perf_counter() - cold:.2f} s")
        big_s, big_pages, big_items, big_bytes = timed(args.repeat, lambda: walk(client, 10_000))
        small_s, small_pages, small_items, _ = timed(args.repeat, lambda: walk(client, 100))
    print(f"peak RSS serving it: {peak_mb():.0f} MB")

    touched = time.perf_counter()
    for plan in plans:
        if plan.users > 50_000:
            token = {"Authorization": f"Bearer {sandbox.token_for(sandbox.district_ids()[plan.index])}"}
            httpx.get(f"{server.url}/v3.1/users?limit=10000", headers=token, timeout=120).raise_for_status()
    big_count = sum(p.users > 50_000 for p in plans)
    print(f"touched all {big_count} big districts in {time.perf_counter() - touched:.1f} s; "
          f"generated {sandbox.world.generated}, cached {len(sandbox.world._cache)}; peak RSS {peak_mb():.0f} MB")
    sandbox_peak = peak_mb()
    server.close()

    view = sandbox.world.collection(biggest.index, "users")
    naive = Server(NaiveUsers([json.loads(unwrap(b)) for b in view.blobs]), "127.0.0.1", 0)
    with httpx.Client(base_url=naive.url, timeout=120) as client:
        naive_s, naive_pages, naive_items, _ = timed(args.repeat, lambda: walk(client, 10_000))
    naive.close()

    rows = [
        ("sandbox, 10000-item pages", big_s, big_pages, big_items),
        ("baseline: sandbox, 100-item pages", small_s, small_pages, small_items),
        ("baseline: naive json.dumps per page", naive_s, naive_pages, naive_items),
    ]
    print(f"\nwalking all {big_items:,} users of one district ({big_bytes / 1e6:.0f} MB of JSON), "
          f"best of {args.repeat}:")
    print(f"{'':40} {'seconds':>8} {'pages/s':>9} {'items/s':>11} {'vs this':>8}")
    for name, seconds, pages, items in rows:
        print(f"{name:40} {seconds:8.2f} {pages / seconds:9.1f} {items / seconds:11,.0f} "
              f"{(items / seconds) / (big_items / big_s):7.2f}x")
    print(f"\n10000-item pages serve {big_s and small_s / big_s:.1f}x faster than 100-item pages and "
          f"{naive_s / big_s:.1f}x faster than json.dumps per request; sandbox peak RSS {sandbox_peak:.0f} MB "
          f"(the naive baseline's dicts then take it to {peak_mb():.0f} MB)")


if __name__ == "__main__":
    main()
