"""A lean HTTP/1.1 keep-alive client for load generation.

The load generator shares the machine's two cores with the service and PostgreSQL, so
its own CPU per request is part of what the benchmark would otherwise report as the
service's latency. httpx's async client costs about 1–2 ms of CPU per request here (its
transport, h11 and header models); this one sends a pre-encoded request on a persistent
connection and parses only the status line, ``Content-Length`` and the body — about a
tenth of that. It speaks just enough HTTP/1.1 for a JSON API that answers with a
``Content-Length`` (uvicorn and FastAPI do), and fails loudly on anything else.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["HttpError", "JsonConnection"]


class HttpError(Exception):
    """The server answered with something this client does not speak, or went away."""


class JsonConnection:
    """One keep-alive connection; one request at a time (open several for concurrency)."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> JsonConnection:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass

    async def post(self, path: str, body: Any, *, timeout: float) -> tuple[int, Any]:
        """``(status, decoded JSON body)``; raises :class:`HttpError` or ``TimeoutError``."""
        assert self._reader is not None and self._writer is not None, "use 'async with'"
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self._host}:{self._port}\r\n"
            "content-type: application/json\r\naccept: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n"
        ).encode("ascii")
        self._writer.write(head + payload)
        return await asyncio.wait_for(self._response(), timeout)

    async def _response(self) -> tuple[int, Any]:
        assert self._reader is not None
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise HttpError("the connection closed before a response arrived") from exc
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"not an HTTP/1.x status line: {status_line!r}")
        length: int | None = None
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding":
                raise HttpError(f"transfer-encoding {value.strip()!r} is not supported")
        if length is None:
            raise HttpError("the response has no Content-Length")
        try:
            raw = await self._reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise HttpError("the connection closed in the middle of a response") from exc
        return int(parts[1]), json.loads(raw) if raw else None
