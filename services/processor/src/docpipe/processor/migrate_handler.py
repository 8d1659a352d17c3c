"""Lambda entry point that applies schema migrations during ``pulumi up``.

Deployed from the processor image with a command override and invoked once per change of
the migration files (``aws.lambda_.Invocation``). It connects as the Aurora master user
(managed secret ``MASTER_SECRET_ARN``), applies pending migrations, and sets the services'
role password from ``APP_DATABASE_SECRET_ARN``. Its result names versions only, never secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import quote

import asyncpg

from docpipe.common.aws import client
from docpipe.common.logging import configure_logging, get_logger
from docpipe.common.migrations import apply_migrations
from docpipe.processor.config import ProcessorSettings

__all__ = ["handler"]

_log = get_logger("docpipe.migrate")


async def _secret(settings: ProcessorSettings, arn: str) -> dict[str, Any]:
    sm = await client("secretsmanager", settings)
    value: dict[str, Any] = json.loads((await sm.get_secret_value(SecretId=arn))["SecretString"])
    return value


async def _migrate() -> dict[str, Any]:
    settings = ProcessorSettings()
    master = await _secret(settings, os.environ["MASTER_SECRET_ARN"])
    app_arn = os.environ.get("APP_DATABASE_SECRET_ARN")
    app_password = (await _secret(settings, app_arn))["password"] if app_arn else None
    dsn = (
        f"postgresql://{quote(master['username'], safe='')}:{quote(master['password'], safe='')}"
        f"@{settings.database_host}:{settings.database_port}/{settings.database_name}"
    )
    conn = await asyncpg.connect(dsn, ssl="require", timeout=30)
    try:
        applied = await apply_migrations(
            conn, embedding_dimensions=settings.embedding_dimensions, app_password=app_password
        )
    finally:
        await conn.close()
    return {"applied": applied, "embedding_dimensions": settings.embedding_dimensions}


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    result = asyncio.run(_migrate())
    _log.info("migrations applied", extra=result)
    return result
