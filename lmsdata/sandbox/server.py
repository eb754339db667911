"""Serve the sandbox over real HTTP: a threaded stdlib wsgiref server on an ephemeral port."""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr: tests and the CLI stay readable."""


class Server:
    """A running sandbox server; `url` is its base URL (OAuth and API on the same origin)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self._httpd = make_server(host, port, app, server_class=_ThreadingWSGIServer,
                                  handler_class=_QuietHandler)
        self.host, self.port = host, self._httpd.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"lmsdata-sandbox:{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
