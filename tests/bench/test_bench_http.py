"""The benchmark's lean HTTP client: keep-alive JSON round trips, and loud failures."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench._http import HttpError, JsonConnection


async def _serve(responses: list[bytes]) -> tuple[asyncio.Server, int, list[bytes]]:
    """A server answering each request on a connection with the next canned response."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            seen.append(head + await reader.readexactly(length))
            writer.write(response)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


def _ok(body: object, status: str = "200 OK") -> bytes:
    raw = json.dumps(body).encode()
    return f"HTTP/1.1 {status}\r\ncontent-length: {len(raw)}\r\n\r\n".encode() + raw


async def test_two_requests_share_one_connection() -> None:
    server, port, seen = await _serve([_ok({"n": 1}), _ok({"detail": "no"}, "422 Unprocessable")])
    async with server, JsonConnection("127.0.0.1", port) as conn:
        assert await conn.post("/v1/search", {"q": "a"}, timeout=5) == (200, {"n": 1})
        assert await conn.post("/v1/search", {"q": "b"}, timeout=5) == (422, {"detail": "no"})
    assert len(seen) == 2
    assert seen[1].startswith(b"POST /v1/search HTTP/1.1\r\n")
    assert seen[1].endswith(b'{"q": "b"}')


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", "chunked"),
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", "no Content-Length"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}", "middle of a response"),
    ],
)
async def test_unsupported_or_broken_responses_fail_loudly(response: bytes, message: str) -> None:
    server, port, _ = await _serve([response])
    async with server, JsonConnection("127.0.0.1", port) as conn:
        with pytest.raises(HttpError, match=message):
            await conn.post("/", {}, timeout=5)


async def test_a_silent_server_times_out() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(never, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, JsonConnection("127.0.0.1", port) as conn:
        with pytest.raises(TimeoutError):
            await conn.post("/", {}, timeout=0.2)
