"""The upload service's FastAPI application and its Lambda handler.

``app`` and ``handler`` are built on first access (PEP 562), not at import: importing this
module reads no environment and opens no connection, while uvicorn
(``docpipe.upload.main:app``) and the Lambda runtime (``docpipe.upload.main.handler``) get
them as usual, and a missing or unsafe setting still fails at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docpipe.common.logging import configure_logging
from docpipe.common.openapi import use_problem_json
from docpipe.common.runtime import close_loop_resources
from docpipe.common.web import install_common, lazy_app, problem_response
from docpipe.upload import exceptions as errors
from docpipe.upload.config import UploadSettings
from docpipe.upload.routes import router

__all__ = ["app", "create_app", "handler"]  # noqa: F822 (app, handler: module __getattr__)

#: problem+json ``type`` of a 429: which quota is in ``quota``, its value in ``limit``.
QUOTA_PROBLEM_TYPE = "https://docpipe.dev/problems/quota-exceeded"

_STATUS: dict[type[errors.UploadError], int] = {
    errors.MalformedUpload: 400,
    errors.InvalidCursor: 400,
    errors.DocumentNotFound: 404,
    errors.StateConflict: 409,
    errors.FileTooLarge: 413,
    errors.UnsupportedType: 415,
    errors.EmptyFile: 422,
    errors.InvalidFilename: 422,
    errors.InvalidMetadata: 422,
    errors.InvalidAccess: 422,
    errors.TooManyFiles: 422,
    errors.StorageUnavailable: 503,
}


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await close_loop_resources()  # the pools and every client of this loop


async def _upload_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, errors.QuotaExceeded):
        return problem_response(
            429,
            str(exc),
            type_=QUOTA_PROBLEM_TYPE,
            headers={"Retry-After": str(exc.retry_after)},
            quota=exc.quota,
            limit=exc.limit,
        )
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    return problem_response(status, str(exc))


def create_app(settings: UploadSettings | None = None) -> FastAPI:
    """The application, configured from ``settings`` or the environment."""
    settings = settings or UploadSettings()  # type: ignore[call-arg]  # from the environment
    configure_logging(settings.log_level)
    app = FastAPI(
        title="docpipe upload",
        version="1.0.0",
        summary="Upload documents for ingestion; follow their processing status.",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    install_common(app, cors_origins=settings.cors_origins)
    app.add_exception_handler(errors.UploadError, _upload_error)
    app.include_router(router)
    use_problem_json(app)
    return app


__getattr__ = lazy_app(create_app)
