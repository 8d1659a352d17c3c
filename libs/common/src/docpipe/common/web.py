"""FastAPI pieces shared by the upload and query services.

problem+json errors (RFC 9457) for every failure path (an unavailable database is a 503
with ``Retry-After``), a trace id per request, CORS from configuration, and the
authentication dependency that yields the caller's tenant.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docpipe.common.auth import Principal, authenticate
from docpipe.common.exceptions import AuthError, DatabaseUnavailable, ProblemError
from docpipe.common.logging import bind, get_logger, new_trace_id
from docpipe.common.settings import CommonSettings

__all__ = [
    "PROBLEM_JSON",
    "install_common",
    "lazy_app",
    "measured",
    "principal_from_request",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_log = get_logger("docpipe.web")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DEFAULT_RETRY_AFTER_S = 10


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": type_,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    if not errors:
        return "invalid request", errors
    first = errors[0]
    loc = first["loc"]
    # Drop the location prefix only: a body field may itself be named "query" or "path".
    where = ".".join(loc[1:] if loc[:1] and loc[0] in {"body", "query", "path"} else loc)
    return (f"{where}: {first['msg']}" if where else str(first["msg"])), errors


def install_common(app: FastAPI, *, cors_origins: list[str]) -> None:
    """Error handlers, trace-id middleware and CORS for a docpipe FastAPI app."""

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.detail, type_=exc.type, **exc.extra)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return problem_response(401, exc.detail, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(exc)
        return problem_response(422, detail, errors=errors)

    @app.exception_handler(DatabaseUnavailable)
    async def _database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        _log.warning("database unavailable", extra={"reason": str(exc)})
        return problem_response(
            503,
            "the database is unavailable; retry later",
            headers={"Retry-After": str(_retry_after(request))},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error")
        return problem_response(500, "an internal error occurred; it has been logged")

    app.add_middleware(TraceMiddleware)

    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Trace-Id"],
            max_age=600,
        )


def _retry_after(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    return int(getattr(settings, "database_retry_after_seconds", _DEFAULT_RETRY_AFTER_S))


class TraceMiddleware:
    """A trace id per request, on every log record and echoed as ``X-Trace-Id``.

    Taken from ``X-Request-Id`` when the caller sends a sane one, else new. One access log
    line per request. Plain ASGI rather than ``@app.middleware("http")``: Starlette's
    BaseHTTPMiddleware adds a task and a response stream to every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        trace_id = offered if _REQUEST_ID.fullmatch(offered) else new_trace_id()
        started, status = time.perf_counter(), 500

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-trace-id", trace_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with bind(trace_id=trace_id):
            try:
                await self.app(scope, receive, send_traced)
            finally:
                _log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )


def principal_from_request(request: Request, settings: CommonSettings) -> Principal:
    """Authenticate a request (the Lambda event is in the scope when served by Mangum)."""
    event = request.scope.get("aws.event")
    return authenticate(
        settings=settings,
        authorization=request.headers.get("authorization"),
        lambda_event=event if isinstance(event, dict) else None,
    )


def lazy_app(create_app: Callable[[], FastAPI]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that builds ``app`` and ``handler`` on first access.

    Importing a service's ``main`` then reads no environment and opens nothing, while
    uvicorn (``module:app``) and the Lambda runtime (``module.handler``) get them as
    usual, and a missing or unsafe setting still fails at start-up.
    """

    @cache
    def app() -> FastAPI:
        return create_app()

    @cache
    def handler() -> Any:
        from mangum import Mangum
        from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

        # problem+json is text: without it Mangum would base64-encode every error body.
        return measured(
            Mangum(app(), lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, PROBLEM_JSON])
        )

    def module_getattr(name: str) -> Any:
        if name == "app":
            return app()
        if name == "handler":
            return handler()
        raise AttributeError(name)

    return module_getattr


def measured(adapter: Callable[[Any, Any], dict[str, Any]]) -> Callable[[Any, Any], Any]:
    """A Lambda handler that reports each answer's status as metrics of its version.

    Mangum turns an exception in a route into an HTTP 500 that Lambda counts as a
    successful invocation; ``Requests`` and ``Http5xx`` (``docpipe.common.metrics``) are
    what the canary watches instead. An adapter that raises counts as a 5xx too.
    """
    from docpipe.common.metrics import FunctionIdentity, Metric, publish

    def handle(event: Any, context: Any) -> dict[str, Any]:
        status = 500
        try:
            response = adapter(event, context)
            status = int(response.get("statusCode", 500))
            return response
        finally:
            publish(
                {Metric.REQUESTS: 1, Metric.SERVER_ERRORS: int(status >= 500)},
                function=FunctionIdentity.of(context),
            )

    return handle
