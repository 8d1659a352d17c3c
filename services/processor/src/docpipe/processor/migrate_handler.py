"""Lambda entry point that applies schema migrations during ``pulumi up``.

Deployed from the processor image with a command override. Invoked by ``pulumi up``
whenever the deployer's migration files change (``aws.lambda_.Invocation``), and by the
rollout command before a new processor image takes traffic. It connects as the Aurora
master user (managed secret ``MASTER_SECRET_ARN``), applies pending migrations, and sets
the services' role password from ``APP_DATABASE_SECRET_ARN``. Its result names versions
only, never secrets.

The SQL it applies is the SQL baked into its image. ``pulumi up`` sends the manifest it
computed from the deployer's checkout (``"expected"``); when that is not exactly what the
image carries, nothing is applied and the invocation fails, which fails ``pulumi up``: a
newer checkout with an older image (or the reverse) must not record a migration as done
while the schema lags.
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
from docpipe.common.migrations import (
    apply_migrations,
    manifest_fingerprint,
    manifest_mismatch,
    migration_manifest,
)
from docpipe.processor.config import ProcessorSettings

__all__ = ["MigrationMismatch", "handler"]

_log = get_logger("docpipe.migrate")


class MigrationMismatch(RuntimeError):
    """The deploy expects a schema that this image does not carry; nothing was applied."""


def _check_expected(event: Any, carried: dict[str, str]) -> None:
    expected = event.get("expected") if isinstance(event, dict) else None
    if expected is None:  # the rollout command, or a hand-run invocation: this image's SQL
        return
    mismatch = manifest_mismatch(expected=dict(expected), carried=carried)
    if mismatch:
        raise MigrationMismatch(
            f"this image's migrations differ from the deploy's ({mismatch}); nothing was "
            "applied. Roll out the processor image built from the same commit "
            "(`rollout deploy --service processor --image ...`), or deploy from the commit "
            "the processor image was built from."
        )


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
    carried = migration_manifest()
    _check_expected(event, carried)
    result = asyncio.run(_migrate())
    result["carried"] = {"versions": list(carried), "fingerprint": manifest_fingerprint(carried)}
    _log.info("migrations applied", extra=result)
    return result
