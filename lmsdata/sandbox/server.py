"""Serve the sandbox over real HTTP/1.1 with keep-alive (cheroot), on an ephemeral loopback port.

Clever speaks HTTP/1.1 and keeps connections alive, so the client's connection pool is exercised
here as it is there. cheroot is a well-kept pure-Python WSGI server; three things are adjusted:
- its worker pool grows on demand (a stalled reply never blocks the others, as with a thread per
  connection) and starts without cheroot's 0.1 s wait per worker, so a test can start many sandboxes;
- every thread is a daemon, so a server nobody closed never keeps the process alive;
- its error log goes to `logging`, not stderr (a dropped connection is routine here).
"""

from __future__ import annotations

import logging
import socket
import threading
from types import TracebackType
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.workers import threadpool

log = logging.getLogger(__name__)
MIN_THREADS = 4
MAX_THREADS = 512
IDLE_TIMEOUT_S = 15  # above httpx's 5 s keep-alive expiry: the client, not the server, ends idle connections
POLL_S = 0.1  # how often the connection loop looks at its stop flag (close() also wakes it at once)


class _GrowingPool(threadpool.ThreadPool):
    """cheroot's pool, grown by one worker whenever a connection would wait for a busy one."""

    def grow(self, amount: int) -> None:
        budget = max(self.max - len(self._threads), 0)
        self._threads.extend(self._spawn_worker() for _ in range(min(amount, budget)))

    def put(self, obj: Any) -> None:
        if self._queue.qsize() >= self.idle:
            self.grow(1)
        super().put(obj)


class _CountingConnection(cheroot_server.HTTPConnection):
    """Counts the TCP connections the server accepted (keep-alive makes it far fewer than requests)."""

    def __init__(self, server: Any, sock: Any, makefile: Any = cheroot_server.MakeFile) -> None:
        super().__init__(server, sock, makefile)
        server.count_connection()


class _WSGIServer(wsgi.Server):
    ConnectionClass = _CountingConnection

    def __init__(self, bind_addr: tuple[str, int], app: Any) -> None:
        super().__init__(bind_addr, app, numthreads=MIN_THREADS, max=MAX_THREADS, request_queue_size=128,
                         timeout=IDLE_TIMEOUT_S, shutdown_timeout=5, server_name="lmsdata-sandbox")
        self.requests = _GrowingPool(self, min=MIN_THREADS, max=MAX_THREADS)
        self.keep_alive_conn_limit = None  # as many idle keep-alive connections as clients hold open
        self.expiration_interval = POLL_S
        self.connections_accepted = 0
        self._count_lock = threading.Lock()

    @staticmethod
    def bind_socket(socket_: socket.socket, bind_addr: tuple[str, int]) -> socket.socket:
        """cheroot's bind, closing the socket when the port is taken (cheroot would leak it)."""
        try:
            socket_.bind(bind_addr)
        except OSError:
            socket_.close()
            raise
        return socket_

    def count_connection(self) -> None:
        with self._count_lock:
            self.connections_accepted += 1

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        """Routine events (a dropped or timed-out connection) at debug level; a failing handler stays visible."""
        log.log(level if level >= logging.WARNING else logging.DEBUG, "%s", msg, exc_info=traceback)


class Server:
    """A running sandbox server; `url` is its base URL (OAuth and API on the same origin)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self._httpd = _WSGIServer((host, port), app)
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:  # prepare() here, so cheroot's own threads inherit this daemon thread's status
            try:
                self._httpd.prepare()
            except BaseException as exc:
                failed.append(exc)
                return
            finally:
                ready.set()
            self._httpd.serve()

        self._thread = threading.Thread(target=run, name=f"lmsdata-sandbox:{host}:{port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        self.host, self.port = host, self._httpd.bind_addr[1]
        self.url = f"http://{host}:{self.port}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: one per client connection that keep-alive reuses."""
        return self._httpd.connections_accepted

    def close(self) -> None:
        manager = getattr(self._httpd, "_connections", None)
        if manager is not None and self._httpd.ready:
            manager._stop_requested = True  # what stop() sets; the touch below wakes the loop now
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
            except OSError:
                pass
        self._httpd.stop()
        self._thread.join(timeout=5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
