"""Where the CLI finds the services, and how it authenticates.

URLs come from ``UPLOAD_URL`` / ``QUERY_URL``, else 127.0.0.1 with ``UPLOAD_PORT`` /
``QUERY_PORT`` (8001 / 8002). ``DOCPIPE_TOKEN``, when set, is sent as a bearer token
(services with ``AUTH_MODE=jwt``) to the services, never to S3's presigned POST URL.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

__all__ = [
    "async_client",
    "problem_detail",
    "query_url",
    "sync_client",
    "upload_url",
]

TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: Idle pooled connections are dropped after this long: under uvicorn's 5 s keep-alive,
#: so the client does not reuse a connection the server is closing (httpx's default
#: expiry is 5 s too, and a request sent on such a connection fails with ReadError).
KEEPALIVE_EXPIRY_S = 2.0


def _url(service: str, default_port: int) -> str:
    explicit = os.environ.get(f"{service}_URL")
    port = os.environ.get(f"{service}_PORT", str(default_port))
    return (explicit or f"http://127.0.0.1:{port}").rstrip("/")


def upload_url() -> str:
    return _url("UPLOAD", 8001)


def query_url() -> str:
    return _url("QUERY", 8002)


def _headers() -> dict[str, str]:
    token = os.environ.get("DOCPIPE_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def sync_client(base_url: str) -> httpx.Client:
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S)
    return httpx.Client(base_url=base_url, headers=_headers(), timeout=TIMEOUT, limits=limits)


def async_client(base_url: str, *, connections: int = 16) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    return httpx.AsyncClient(base_url=base_url, headers=_headers(), timeout=TIMEOUT, limits=limits)


def problem_detail(response: httpx.Response) -> str:
    """The problem+json ``detail`` (or title) of an error response, else its text."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)[:300]
