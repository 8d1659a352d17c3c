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

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docpipe.common.embeddings import close_embedder, create_embedder
from docpipe.common.exceptions import EmbeddingError, EmbeddingRequestError, EmbeddingThrottled
from docpipe.common.logging import configure_logging, get_logger
from docpipe.common.openapi import use_problem_json
from docpipe.common.runtime import close_loop_resources
from docpipe.common.web import install_common, lazy_app, problem_response
from docpipe.query.answer import Answerer, ExtractiveAnswerer, HeuristicRewriter, Rewriter
from docpipe.query.config import QuerySettings
from docpipe.query.exceptions import ConversationNotFound
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.routes import router

__all__ = ["app", "create_app", "handler"]  # noqa: F822 (app, handler: module __getattr__)

_log = get_logger("docpipe.query")


def _install_bedrock_answerer(app: FastAPI, settings: QuerySettings) -> tuple[Answerer, Rewriter]:
    """Bedrock's client library is imported only by a service configured to use it."""
    from docpipe.common.bedrock_runtime import BedrockRuntime
    from docpipe.common.exceptions import BedrockError, BedrockRequestError, BedrockThrottled
    from docpipe.query.answer.converse import BedrockAnswerer
    from docpipe.query.answer.rewrite import BedrockRewriter

    async def bedrock_error(_: Request, exc: Exception) -> JSONResponse:
        return _model_problem(
            exc,
            rejected=isinstance(exc, BedrockRequestError),
            throttled=isinstance(exc, BedrockThrottled),
        )

    app.add_exception_handler(BedrockError, bedrock_error)
    runtime = BedrockRuntime.from_settings(settings, read_timeout=25.0)
    answerer = BedrockAnswerer(
        runtime=runtime,
        model_id=settings.answer_model_id,
        max_tokens=settings.answer_max_tokens,
        temperature=settings.answer_temperature,
    )
    rewriter = BedrockRewriter(
        runtime=runtime, model_id=settings.rewrite_model_id or settings.answer_model_id
    )
    return answerer, rewriter


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await close_embedder(app.state.query_embeddings.embedder)
    await close_loop_resources()  # the pools and every client of this loop


def _model_problem(exc: Exception, *, rejected: bool, throttled: bool) -> JSONResponse:
    """Embedding or answer model failures after retries: 502 (rejected) or 503 (retry later)."""
    _log.warning("model call failed", extra={"error": str(exc), "kind": type(exc).__name__})
    if rejected:
        return problem_response(502, "the model service rejected the request")
    headers = {"Retry-After": "2"} if throttled else None
    return problem_response(503, "the model service is unavailable; retry later", headers=headers)


async def _embedding_error(_: Request, exc: Exception) -> JSONResponse:
    return _model_problem(
        exc,
        rejected=isinstance(exc, EmbeddingRequestError),
        throttled=isinstance(exc, EmbeddingThrottled),
    )


async def _conversation_not_found(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(404, str(exc))


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
    install_common(app, cors_origins=settings.cors_origins)
    if settings.answers_with_bedrock:
        app.state.answerer, app.state.rewriter = _install_bedrock_answerer(app, settings)
    else:
        app.state.answerer, app.state.rewriter = ExtractiveAnswerer(), HeuristicRewriter()
    app.add_exception_handler(EmbeddingError, _embedding_error)
    app.add_exception_handler(ConversationNotFound, _conversation_not_found)
    app.include_router(router)
    use_problem_json(app)
    return app


__getattr__ = lazy_app(create_app)
