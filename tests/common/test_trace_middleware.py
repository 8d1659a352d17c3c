"""Every request gets a trace id: on its log records and echoed as X-Trace-Id."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from docpipe.common.logging import JsonFormatter, get_logger
from docpipe.common.web import install_common


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    install_common(app, cors_origins=[])

    @app.get("/work")
    async def work() -> dict[str, str]:
        get_logger("docpipe.test").info("inside the request")
        return {"ok": "yes"}

    return app


async def _get(app: FastAPI, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/work", headers=headers)


async def test_caller_request_id_is_the_trace_id_of_its_logs(app: FastAPI) -> None:
    # Formatted at emit time, as in production: bound fields live only inside the request.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        response = await _get(app, **{"X-Request-Id": "req-123.abc"})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == "req-123.abc"
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    inside = next(r for r in records if r["message"] == "inside the request")
    access = next(r for r in records if r["message"] == "request")
    assert inside["trace_id"] == access["trace_id"] == "req-123.abc"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/work", 200)


async def test_unsafe_or_missing_request_ids_get_a_fresh_trace_id(app: FastAPI) -> None:
    unsafe = await _get(app, **{"X-Request-Id": "a b\tc" + "x" * 200})
    missing = await _get(app)
    ids = {unsafe.headers["x-trace-id"], missing.headers["x-trace-id"]}
    assert len(ids) == 2 and all(len(i) == 32 and i.isalnum() for i in ids)
