"""Lambda entry point that applies schema migrations during ``pulumi up``.

Deployed from the processor image with a command override. Invoked by ``pulumi up``
whenever the deployer's migration files change (``aws.lambda_.Invocation``), and by the
rollout command before a new processor image takes traffic. It connects as the Aurora
master user (managed secret ``MASTER_SECRET_ARN``), applies pending migrations, and sets
each service role's password from that role's own secret
(``UPLOAD_DATABASE_SECRET_ARN``, ``QUERY_DATABASE_SECRET_ARN``,
``PROCESSOR_DATABASE_SECRET_ARN``). Its result names versions and roles only, never
secrets.

The SQL it applies is the SQL baked into its image. ``pulumi up`` sends the manifest it
computed from the deployer's checkout (``"expected"``); when that is not exactly what the
image carries, nothing is applied and the invocation fails, which fails ``pulumi up``: a
newer checkout with an older image (or the reverse) must not record a migration as done
while the schema lags.

It connects like the services do (:class:`~docpipe.common.db_connect.DatabaseConnector`):
TLS verifying Aurora's certificate and host name against the RDS CA bundle (or
``DATABASE_SSL_ROOT_CERT``), retries within ``DATABASE_CONNECT_BUDGET_SECONDS`` (a paused
cluster resumes), the secret read again if the master password was just rotated.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg

from docpipe.common.db_connect import DatabaseConnector
from docpipe.common.db_credentials import read_secret
from docpipe.common.logging import configure_logging, get_logger
from docpipe.common.migrations import (
    SERVICE_ROLES,
    apply_migrations,
    manifest_fingerprint,
    manifest_mismatch,
    migration_manifest,
)
from docpipe.common.runtime import close_loop_resources
from docpipe.processor.config import ProcessorSettings
from docpipe.processor.exceptions import MigrationMismatch

__all__ = ["connect_as_master", "handler", "role_passwords"]

_log = get_logger("docpipe.migrate")


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


async def connect_as_master(settings: ProcessorSettings) -> asyncpg.Connection:
    """A verified-TLS connection as the master user (``MASTER_SECRET_ARN``)."""
    connector = DatabaseConnector(settings, secret_arn=os.environ["MASTER_SECRET_ARN"])
    return await connector.connect()


async def role_passwords(settings: ProcessorSettings) -> dict[str, str]:
    """Each service role's password, from the secret named by ``<SERVICE>_DATABASE_SECRET_ARN``.

    A secret must name the role it belongs to (``username``): a swapped ARN fails here,
    before any role gets another's password.
    """
    passwords: dict[str, str] = {}
    for service, role in SERVICE_ROLES.items():
        arn = os.environ.get(f"{service.upper()}_DATABASE_SECRET_ARN")
        if not arn:
            continue
        secret = await read_secret(settings, arn)
        if secret.get("username") != role:
            raise ValueError(
                f"{service.upper()}_DATABASE_SECRET_ARN names a secret of"
                f" {secret.get('username')!r}, not of {role!r}"
            )
        passwords[role] = str(secret["password"])
    return passwords


async def _migrate() -> dict[str, Any]:
    settings = ProcessorSettings()
    try:
        passwords = await role_passwords(settings)
        conn = await connect_as_master(settings)
        try:
            applied = await apply_migrations(
                conn, embedding_dimensions=settings.embedding_dimensions, role_passwords=passwords
            )
        finally:
            await conn.close()
    finally:
        await close_loop_resources()  # this loop ends with the invocation (asyncio.run)
    return {
        "applied": applied,
        "embedding_dimensions": settings.embedding_dimensions,
        "role_passwords_set": sorted(passwords),
    }


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    carried = migration_manifest()
    _check_expected(event, carried)
    result = asyncio.run(_migrate())
    result["carried"] = {"versions": list(carried), "fingerprint": manifest_fingerprint(carried)}
    _log.info("migrations applied", extra=result)
    return result
