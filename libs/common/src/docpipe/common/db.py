"""asyncpg pool shared by a process, and tenant-scoped transactions.

The pool is created lazily on the running event loop and reused by every later call
on that loop (Lambda keeps one loop per process; see ARCHITECTURE §11). The tenant is
set with ``set_config(..., is_local => true)`` inside each transaction, so a pooled
connection never carries one tenant's id into another request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

from docpipe.common.settings import CommonSettings

__all__ = ["close_pool", "get_pool", "resolve_dsn", "tenant_transaction"]

_pool: asyncpg.Pool | None = None
_pool_loop: asyncio.AbstractEventLoop | None = None
_pool_lock: asyncio.Lock | None = None


async def resolve_dsn(settings: CommonSettings) -> str:
    """DATABASE_URL as is, or a DSN built from the Secrets Manager secret (AWS)."""
    if settings.database_url:
        return settings.database_url
    from docpipe.common.aws import client  # only on AWS: keeps local start-up lean

    sm = await client("secretsmanager", settings)
    secret = json.loads(
        (await sm.get_secret_value(SecretId=settings.database_secret_arn))["SecretString"]
    )
    host = secret.get("host") or settings.database_host
    if not host:
        raise RuntimeError("the database secret has no host and DATABASE_HOST is not set")
    from urllib.parse import quote

    return (
        f"postgresql://{quote(secret['username'], safe='')}:{quote(secret['password'], safe='')}"
        f"@{host}:{secret.get('port') or settings.database_port}"
        f"/{secret.get('dbname') or settings.database_name}?sslmode=require"
    )


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


async def get_pool(settings: CommonSettings) -> asyncpg.Pool:
    """The process' pool for the running loop, created on first use."""
    global _pool, _pool_loop, _pool_lock
    loop = asyncio.get_running_loop()
    if _pool is not None and _pool_loop is loop:
        return _pool
    if _pool_lock is None or _pool_loop is not loop:
        _pool_lock = asyncio.Lock()
        _pool_loop = loop
        _pool = None  # a pool from a closed loop cannot be used or closed; drop it
    async with _pool_lock:
        if _pool is None:
            _pool = await asyncpg.create_pool(
                await resolve_dsn(settings),
                min_size=settings.database_pool_min,
                max_size=settings.database_pool_max,
                init=_init_connection,
                command_timeout=60,
                max_inactive_connection_lifetime=300,
            )
        return _pool


async def close_pool() -> None:
    global _pool
    if _pool is not None and _pool_loop is asyncio.get_running_loop():
        await _pool.close()
    _pool = None


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant_id: str, **transaction_options: Any
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction where row-level security sees only ``tenant_id``."""
    async with pool.acquire() as conn, conn.transaction(**transaction_options):
        await conn.execute("select set_config('app.tenant_id', $1, true)", tenant_id)
        yield conn
