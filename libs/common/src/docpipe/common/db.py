"""asyncpg pool shared by a process, and tenant-scoped transactions.

The pool is created lazily on the running event loop and reused by every later call
on that loop (Lambda keeps one loop per process; see ARCHITECTURE §11). The tenant is
set with ``set_config(..., is_local => true)`` inside each transaction, so a pooled
connection never carries one tenant's id into another request.

A database that cannot be reached, or that drops the connection mid-transaction, raises
:class:`~docpipe.common.db_errors.DatabaseUnavailable` from here, never a driver error:
new connections come from :class:`~docpipe.common.db_connect.DatabaseConnector` (bounded
retries), and :func:`tenant_transaction` translates a lost connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction
from pgvector.asyncpg import register_vector

from docpipe.common.db_connect import DatabaseConnector
from docpipe.common.db_errors import (
    DatabaseConnectionLost,
    DatabaseUnavailable,
    DatabaseUnreachable,
    connection_loss,
    describe,
    is_closed,
    is_transient_connect_error,
)
from docpipe.common.settings import CommonSettings

__all__ = ["close_pool", "get_pool", "tenant_transaction"]

_pool: asyncpg.Pool | None = None
_pool_loop: asyncio.AbstractEventLoop | None = None
_pool_lock: asyncio.Lock | None = None
#: Longest wait for a pooled connection: the connect budget, plus a moment for the
#: connector to report its own, more precise, DatabaseUnreachable first.
_acquire_timeout: float | None = None
_ACQUIRE_SLACK_S = 1.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


async def get_pool(settings: CommonSettings) -> asyncpg.Pool:
    """The process' pool for the running loop, created on first use (connects lazily)."""
    global _pool, _pool_loop, _pool_lock, _acquire_timeout
    loop = asyncio.get_running_loop()
    if _pool is not None and _pool_loop is loop:
        return _pool
    if _pool_lock is None or _pool_loop is not loop:
        _pool_lock = asyncio.Lock()
        _pool_loop = loop
        _pool = None  # a pool from a closed loop cannot be used or closed; drop it
    async with _pool_lock:
        if _pool is None:
            connector = DatabaseConnector(settings)
            _pool = await asyncpg.create_pool(
                connect=connector.connect,
                min_size=settings.database_pool_min,
                max_size=settings.database_pool_max,
                init=_init_connection,
                command_timeout=settings.database_command_timeout_seconds,
                max_inactive_connection_lifetime=300,
            )
            _acquire_timeout = connector.budget_seconds + _ACQUIRE_SLACK_S
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
    """A connection inside a transaction where row-level security sees only ``tenant_id``.

    Commits when the block ends, rolls back when it raises. A connection lost on the way
    (server restarted, failed over, resumed from a pause; socket reset) raises
    :class:`~docpipe.common.db_errors.DatabaseConnectionLost`.
    """
    conn, transaction = await _begin(pool, tenant_id, transaction_options)
    lost: DatabaseConnectionLost | None = None
    try:
        try:
            yield conn
        except BaseException:
            await _roll_back(transaction, conn)
            raise
        await transaction.commit()
    except Exception as exc:
        lost = connection_loss(exc, conn)
        if lost is None:
            raise
        raise lost from exc
    finally:
        await _give_back(pool, conn, broken=lost is not None)


async def _begin(
    pool: asyncpg.Pool, tenant_id: str, options: dict[str, Any]
) -> tuple[asyncpg.Connection, Transaction]:
    """A started, tenant-scoped transaction.

    An idle pooled connection can have died unnoticed (a frozen Lambda does not see the
    server restart): when the first statements find it lost, nothing of the caller's has
    run yet, so a fresh connection is tried once before the request is given up.
    """
    for attempt in (1, 2):
        conn = await _acquire(pool)
        transaction = conn.transaction(**options)
        try:
            await transaction.start()
            await conn.execute("select set_config('app.tenant_id', $1, true)", tenant_id)
            return conn, transaction
        except Exception as exc:
            lost = connection_loss(exc, conn)
            await _give_back(pool, conn, broken=lost is not None)  # rolls back if not broken
            if lost is None:
                raise
            if attempt == 2:
                raise lost from exc
    raise AssertionError("unreachable")


async def _give_back(pool: asyncpg.Pool, conn: asyncpg.Connection, *, broken: bool) -> None:
    """Return a connection to the pool (which resets it), or drop a broken one: resetting
    it would fail, and the pool opens a new one when next needed."""
    if broken and not is_closed(conn):
        conn.terminate()
    await pool.release(conn)


async def _acquire(pool: asyncpg.Pool) -> asyncpg.Connection:
    timeout = _acquire_timeout if pool is _pool else None
    try:
        conn: asyncpg.Connection = await pool.acquire(timeout=timeout)
    except DatabaseUnavailable:
        raise
    except TimeoutError as exc:
        raise DatabaseUnreachable(f"no database connection free within {timeout:g} s") from exc
    except Exception as exc:  # a new connection lost while ``init`` set it up
        if not is_transient_connect_error(exc):
            raise
        raise DatabaseUnreachable(f"cannot connect to the database: {describe(exc)}") from exc
    return conn


async def _roll_back(transaction: Transaction, conn: asyncpg.Connection) -> None:
    """Roll back if the connection still can; a lost connection has nothing to roll back."""
    if is_closed(conn):
        return
    try:
        await transaction.rollback()
    except Exception as exc:
        if connection_loss(exc, conn) is None:
            raise
