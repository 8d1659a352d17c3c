"""The web console on ``CONSOLE_PORT``: the built files (``console/dist``), a generated
``config.json`` naming the local services, and the security headers the deployed console
gets from CloudFront (``console/security-headers.json``, with the local origins in
``connect-src``), so the browser tests exercise the same content security policy.

The files need no server of their own: this is a plain static file server in a thread of
``docpipe up``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "CONSOLE_DIR",
    "ConsoleServer",
    "console_config",
    "content_security_policy",
    "security_headers",
]

#: the console's folder in the repository (``console/``): dist/ and security-headers.json
CONSOLE_DIR = Path(__file__).resolve().parents[5] / "console"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


def content_security_policy(
    directives: Mapping[str, Sequence[str]], *, connect: Sequence[str] = ()
) -> str:
    """The CSP header value: ``directives`` with ``connect`` origins added to connect-src."""
    merged = {name: list(values) for name, values in directives.items()}
    merged["connect-src"] = [*merged.get("connect-src", []), *dict.fromkeys(connect)]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in merged.items())


def security_headers(*, connect: Sequence[str], spec_path: Path | None = None) -> dict[str, str]:
    """Every header of ``security-headers.json`` for plain HTTP (no Strict-Transport-Security)."""
    spec: dict[str, Any] = json.loads(
        (spec_path or CONSOLE_DIR / "security-headers.json").read_text("utf-8")
    )
    return {
        "Content-Security-Policy": content_security_policy(
            spec["contentSecurityPolicy"], connect=connect
        ),
        **spec["headers"],
    }


def console_config(
    *, upload_url: str, query_url: str, auth_mode: str, environment: str = "local"
) -> dict[str, Any]:
    """config.json for the local stack: both services, the query service streams itself."""
    return {
        "uploadApi": upload_url,
        "queryApi": query_url,
        "streamApi": query_url,
        # AUTH_MODE=none: no token at all; jwt: the console asks for a token to paste
        "auth": {"mode": "none" if auth_mode == "none" else "token"},
        "environment": environment,
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's method name
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/config.json":
            self._send(HTTPStatus.OK, self.server.config_body, ".json", "no-store", body=body)
            return
        file = self._file(path)
        if file is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", ".txt", "no-store", body=body)
            return
        # hashed asset names never change content; everything else is revalidated
        cache = "public, max-age=31536000, immutable" if path.startswith("/assets/") else "no-cache"
        self._send(HTTPStatus.OK, file.read_bytes(), file.suffix, cache, body=body)

    def _file(self, path: str) -> Path | None:
        root = self.server.dist
        candidate = (root / (path.lstrip("/") or "index.html")).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    def _send(
        self, status: HTTPStatus, payload: bytes, suffix: str, cache: str, *, body: bool
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", _TYPES.get(suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", cache)
        for name, value in self.server.response_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature
        pass  # one line per static file is noise next to the services' logs


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, port: int, *, dist: Path, config: Mapping[str, Any], headers: Mapping[str, str]
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.dist = dist.resolve()
        self.config_body = json.dumps(config).encode()
        self.response_headers = dict(headers)


class ConsoleServer:
    """Serves the built console until :meth:`stop`."""

    def __init__(
        self,
        *,
        port: int,
        config: Mapping[str, Any],
        connect: Sequence[str],
        dist: Path | None = None,
    ) -> None:
        self.dist = dist or CONSOLE_DIR / "dist"
        if not (self.dist / "index.html").is_file():
            raise FileNotFoundError(
                f"{self.dist}/index.html is missing: build the console with `make console`"
            )
        self._server = _Server(
            port, dist=self.dist, config=config, headers=security_headers(connect=connect)
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="console", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an IPv4/IPv6 server's address, never a socket path
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
