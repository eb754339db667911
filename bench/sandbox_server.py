"""The sandbox's HTTP server: start/stop cost and small-request throughput, keep-alive vs not.

Run: .venv/bin/python bench/sandbox_server.py [--requests 2000] [--starts 50]

Compared on the same `tiny` sandbox, in this process, one sequential httpx client:
  * cheroot (the sandbox's server), HTTP/1.1 keep-alive: the client's pool reuses one connection;
  * cheroot with `Connection: close` on every request: a new TCP connection per request;
  * baseline: the stdlib threaded wsgiref server the sandbox used before (HTTP/1.0, one connection per request).
"""

from __future__ import annotations

import argparse
import socketserver
import statistics
import time
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

from lmsdata.sandbox import Sandbox
from lmsdata.sandbox.server import Server


class _Threading(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


class WsgirefServer:
    """The baseline: what `lmsdata.sandbox.server` was before cheroot."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import threading

        self._httpd = make_server(host, port, app, server_class=_Threading, handler_class=_Quiet)
        self.url = f"http://{host}:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WsgirefServer:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def start_stop(cls: Any, app: Any, starts: int) -> tuple[float, float]:
    """Median ms to start a server, and to close it after one request."""
    opened, closed = [], []
    for _ in range(starts):
        began = time.perf_counter()
        server = cls(app, "127.0.0.1", 0)
        opened.append(time.perf_counter() - began)
        httpx.get(server.url + "/v3.1/users")
        began = time.perf_counter()
        server.close()
        closed.append(time.perf_counter() - began)
    return statistics.median(opened) * 1000, statistics.median(closed) * 1000


def throughput(server: Any, token: str, requests: int, close_each: bool) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    if close_each:
        headers["Connection"] = "close"
    with httpx.Client(base_url=server.url, headers=headers) as client:
        began = time.perf_counter()
        for _ in range(requests):
            client.get("/v3.1/users", params={"limit": 3}).raise_for_status()
        return requests / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=50)
    args = parser.parse_args()
    sandbox = Sandbox(scale="tiny", rate_limit=10**9)
    token = sandbox.token_for(sandbox.district_ids()[0])
    print(f"{'server':<40}{'start ms':>10}{'close ms':>10}{'req/s':>10}{'connections':>13}")
    rows: list[tuple[str, Any, bool]] = [("cheroot, HTTP/1.1 keep-alive", Server, False),
                                         ("cheroot, Connection: close", Server, True),
                                         ("baseline: wsgiref, HTTP/1.0", WsgirefServer, False)]
    for label, cls, close_each in rows:
        opened, closed = start_stop(cls, sandbox.app, args.starts)
        with cls(sandbox.app, "127.0.0.1", 0) as server:
            rate = throughput(server, token, args.requests, close_each)
            accepted = getattr(server, "connections_accepted", None)
        shown = "-" if accepted is None else f"{accepted:,}"
        print(f"{label:<40}{opened:>10.1f}{closed:>10.1f}{rate:>10,.0f}{shown:>13}")
    print(f"({args.requests:,} sequential GET /v3.1/users?limit=3; start/close: median of {args.starts})")


if __name__ == "__main__":
    main()
