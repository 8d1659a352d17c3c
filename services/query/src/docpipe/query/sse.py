"""Server-sent events of a streamed answer (docs/api.md, "Streaming").

``sources`` as soon as retrieval is done, ``delta`` per piece of text as the model
produces it, ``done`` with exactly the object the non-streaming call returns; a failure
after the stream has begun ends it with ``error`` (problem+json). Each event is written as
soon as it exists (the response is not buffered: ``X-Accel-Buffering: no`` for proxies).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from pydantic import BaseModel

from docpipe.common.lambda_runtime import STREAM_FAILED_KEY
from docpipe.common.logging import get_logger
from docpipe.query.answer import Answer, Answerer, PreparedTurn, stream_turn

__all__ = ["STREAM_FAILED", "STREAM_HEADERS", "answer_events", "event"]

#: Set in the request's state when a stream ended with an ``error`` event (the status line
#: said 200 long before): the Lambda entry point counts it as a server error.
STREAM_FAILED = STREAM_FAILED_KEY
STREAM_HEADERS = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}
_log = get_logger("docpipe.query")


def event(name: str, data: BaseModel | dict[str, Any]) -> bytes:
    payload = data.model_dump_json() if isinstance(data, BaseModel) else json.dumps(data)
    return f"event: {name}\ndata: {payload}\n\n".encode()


def _problem(exc: Exception) -> dict[str, Any]:
    from docpipe.common.exceptions import BedrockError, BedrockRequestError

    if isinstance(exc, BedrockRequestError):
        status, detail = 502, "the model service rejected the request"
    elif isinstance(exc, BedrockError | asyncpg.PostgresError | OSError):
        status, detail = 503, "a backing service failed while answering; retry later"
    else:
        _log.exception("streamed answer failed unexpectedly")
        status, detail = 500, "an internal error occurred; it has been logged"
    titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    return {"type": "about:blank", "title": titles[status], "status": status, "detail": detail}


async def answer_events(
    *,
    pool: asyncpg.Pool,
    turn: PreparedTurn,
    answerer: Answerer,
    sources: BaseModel,
    done: Callable[[Answer], BaseModel],
    state: dict[str, Any],
) -> AsyncIterator[bytes]:
    yield event("sources", sources)
    try:
        async for piece in stream_turn(pool=pool, turn=turn, answerer=answerer):
            if isinstance(piece, str):
                yield event("delta", {"text": piece})
            else:
                yield event("done", done(piece))
    except Exception as exc:  # the status line is long gone: report in the stream
        _log.warning(
            "streamed answer failed", extra={"error": str(exc), "kind": type(exc).__name__}
        )
        state[STREAM_FAILED] = True
        yield event("error", _problem(exc))
