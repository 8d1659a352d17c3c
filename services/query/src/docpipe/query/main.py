"""The query service's FastAPI application and its Lambda handler.

``app`` and ``handler`` are built on first access (PEP 562), not at import: importing this
module reads no environment and opens no connection. Building the app creates the
embedder and the answerer objects but no network client: the database pool, the Bedrock
client and any local model are created on first use, on the serving event loop, and
reused across invocations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docpipe.common.bedrock import (
    BedrockError,
    BedrockRequestError,
    BedrockRuntime,
    BedrockThrottled,
)
from docpipe.common.db import close_pool
from docpipe.common.embeddings import (
    EmbeddingError,
    EmbeddingRequestError,
    EmbeddingThrottled,
    close_embedder,
    create_embedder,
)
from docpipe.common.logging import configure_logging, get_logger
from docpipe.common.openapi import use_problem_json
from docpipe.common.web import install_common, problem_response
from docpipe.query.answer import Answerer, BedrockAnswerer, ExtractiveAnswerer
from docpipe.query.config import QuerySettings
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.routes import router

__all__ = ["app", "create_app", "handler"]  # noqa: F822 (app, handler: module __getattr__)

_log = get_logger("docpipe.query")


def _answerer(settings: QuerySettings) -> Answerer:
    if settings.answers_with_bedrock:
        return BedrockAnswerer(
            runtime=BedrockRuntime.from_settings(settings, read_timeout=25.0),
            model_id=settings.answer_model_id,
            max_tokens=settings.answer_max_tokens,
            temperature=settings.answer_temperature,
        )
    return ExtractiveAnswerer()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await close_pool()
    await close_embedder(app.state.query_embeddings.embedder)
    aclose = getattr(app.state.answerer, "aclose", None)
    if aclose is not None:
        await aclose()


async def _upstream_error(_: Request, exc: Exception) -> JSONResponse:
    """Embedding or answer model failures after retries: 503 (retry later) or 502."""
    _log.warning("model call failed", extra={"error": str(exc), "kind": type(exc).__name__})
    if isinstance(exc, BedrockRequestError | EmbeddingRequestError):
        return problem_response(502, "the model service rejected the request")
    throttled = isinstance(exc, BedrockThrottled | EmbeddingThrottled)
    headers = {"Retry-After": "2"} if throttled else None
    return problem_response(503, "the model service is unavailable; retry later", headers=headers)


def create_app(settings: QuerySettings | None = None) -> FastAPI:
    """The application, configured from ``settings`` or the environment."""
    settings = settings or QuerySettings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="docpipe query",
        version="1.0.0",
        summary="Hybrid search over the caller's documents and answers grounded in them.",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.query_embeddings = QueryEmbeddings(
        create_embedder(settings), maxsize=settings.query_cache_size
    )
    app.state.answerer = _answerer(settings)
    install_common(app, cors_origins=settings.cors_origins)
    app.add_exception_handler(BedrockError, _upstream_error)
    app.add_exception_handler(EmbeddingError, _upstream_error)
    app.include_router(router)
    use_problem_json(app)
    return app


@cache
def _app() -> FastAPI:
    return create_app()


@cache
def _handler() -> Any:
    from mangum import Mangum

    return Mangum(_app(), lifespan="off")


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    if name == "handler":
        return _handler()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
