"""The lifecycle of the test kit's local HTTP stand-ins (Bedrock, the Lambda Runtime API):
a ``ThreadingHTTPServer`` on a free port, served from a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["LocalHttpServer"]


class LocalHttpServer:
    """``with Server() as server:`` serves until the block ends; subclasses say how
    (:meth:`handler`), usually a handler class bound to the server's state."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self._httpd: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        self._httpd = ThreadingHTTPServer((self.host, 0), self.handler())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host_port(self) -> str:
        """``host:port`` of the running server."""
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"
