"""How fast the `large` sandbox serves 10000-item Data API pages over loopback, and its memory.

Run: .venv/bin/python bench/sandbox.py [--repeat 3]

The server runs in its own process (as `lmsdata sandbox` does), so its peak memory (VmHWM) is its
own and client and server use both cores. Baselines, measured in the same run on the same users
behind the same server (`lmsdata.sandbox.server`, cheroot):
  * the same sandbox walked in Clever's customary 100-item pages;
  * a naive server that keeps the users as dicts and runs `json.dumps` on each page per request.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from lmsdata.sandbox import Sandbox, serve
from lmsdata.sandbox.data import plan_districts, unwrap
from lmsdata.sandbox.ids import district_token
from lmsdata.sandbox.server import Server

SEED = 7
ITEM_URI = re.compile(rb'"uri": ?"/v3\.1/users/')


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


def serve_forever(kind: str) -> None:
    """Child process: build the server, print one JSON line, serve until terminated."""
    started = time.perf_counter()
    sandbox = Sandbox(seed=SEED, scale="large", rate_limit=10**9)  # measure serving, not the limiter
    startup = time.perf_counter() - started
    if kind == "naive":
        biggest = max(sandbox.world.plans, key=lambda p: p.users)
        users = [json.loads(unwrap(b)) for b in sandbox.world.collection(biggest.index, "users").blobs]
        server = Server(NaiveUsers(users), "127.0.0.1", 0)
    else:
        server = serve(sandbox)
    print(json.dumps({"url": server.url, "startup_s": startup}), flush=True)
    threading.Event().wait()


@contextmanager
def server_process(kind: str) -> Iterator[tuple[str, float, int]]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        hello = json.loads(process.stdout.readline())
        yield hello["url"], hello["startup_s"], process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = dict(re.findall(r"(VmRSS|VmHWM):\s+(\d+)", status))
    return int(values["VmRSS"]) / 1024, int(values["VmHWM"]) / 1024


def next_link(body: bytes) -> str | None:
    """The rel=next uri from the links at the end of a page, without parsing the whole page."""
    links = json.loads(body[body.rindex(b'"links":') + 8 : -1])
    return next((link["uri"] for link in links if link["rel"] == "next"), None)


def walk(client: httpx.Client, limit: int) -> tuple[int, int, int]:
    """Follow next links through every user of the district; (pages, items, bytes)."""
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


def best_of(repeat: int, run: Callable[[], tuple[int, int, int]]) -> tuple[float, int, int, int]:
    best, result = float("inf"), (0, 0, 0)
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return (best, *result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best is kept)")
    parser.add_argument("--serve", choices=["sandbox", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args.serve)
        return

    plans = plan_districts(SEED, "large")
    biggest = max(plans, key=lambda p: p.users)
    big = [p for p in plans if p.users > 50_000]
    print(f"large: {len(plans)} districts, {sum(p.users for p in plans):,} users, {len(big)} over 50,000")

    def client(url: str, index: int) -> httpx.Client:
        token = district_token(SEED, index)
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    with server_process("sandbox") as (url, startup, pid):
        print(f"Sandbox(scale='large') built in {startup * 1000:.1f} ms; server RSS {memory_mb(pid)[0]:.0f} MB")
        with client(url, biggest.index) as http:
            cold = time.perf_counter()
            http.get("/v3.1/users?limit=10000").raise_for_status()
            print(f"first 10000-item page of the biggest district ({biggest.users:,} users, generated on "
                  f"demand): {time.perf_counter() - cold:.2f} s; server peak RSS {memory_mb(pid)[1]:.0f} MB")
            big_s, big_pages, big_items, big_bytes = best_of(args.repeat, lambda: walk(http, 10_000))
            small_s, small_pages, small_items, _ = best_of(args.repeat, lambda: walk(http, 100))
        touched = time.perf_counter()
        for plan in big:
            with client(url, plan.index) as http:
                http.get("/v3.1/users?limit=10000").raise_for_status()
        rss, peak = memory_mb(pid)
        print(f"visited all {len(big)} big districts in {time.perf_counter() - touched:.1f} s: "
              f"server RSS {rss:.0f} MB, peak {peak:.0f} MB")

    with server_process("naive") as (url, _, pid), client(url, biggest.index) as http:
        naive_s, naive_pages, naive_items, _ = best_of(args.repeat, lambda: walk(http, 10_000))
        naive_peak = memory_mb(pid)[1]

    rows = [
        ("sandbox, 10000-item pages", big_s, big_pages, big_items),
        ("baseline: sandbox, 100-item pages", small_s, small_pages, small_items),
        ("baseline: naive json.dumps per page", naive_s, naive_pages, naive_items),
    ]
    print(f"\nwalking all {big_items:,} users of the biggest district ({big_bytes / 1e6:.0f} MB of JSON), "
          f"best of {args.repeat}:")
    print(f"{'':38} {'seconds':>8} {'pages/s':>9} {'items/s':>10} {'ratio':>7}")
    for name, seconds, pages, items in rows:
        print(f"{name:38} {seconds:8.2f} {pages / seconds:9.1f} {items / seconds:10,.0f} "
              f"{(items / seconds) / (big_items / big_s):6.2f}x")
    print(f"\n10000-item pages: {small_s / big_s:.1f}x the items/s of 100-item pages, {naive_s / big_s:.1f}x "
          f"the naive server's; sandbox server peak {peak:.0f} MB (naive server: {naive_peak:.0f} MB "
          "for one district)")


if __name__ == "__main__":
    main()
