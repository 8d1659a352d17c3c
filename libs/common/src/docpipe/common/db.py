"""asyncpg pool shared by a process, and tenant-scoped transactions.

The pool is created lazily on the running event loop and kept in that loop's
:mod:`~docpipe.common.runtime` registry, so every later call on the loop reuses it (Lambda
keeps one loop per process across warm invocations). The caller's
tenant, user, groups and admin flag are set with ``set_config(..., is_local => true)``
inside each transaction, so a pooled connection never carries one caller's into another
request.

A database that cannot be reached, or that drops the connection mid-transaction, raises
:class:`~docpipe.common.exceptions.DatabaseUnavailable` from here, never a driver error:
new connections come from :class:`~docpipe.common.db_connect.DatabaseConnector` (bounded
retries), and :func:`tenant_transaction` translates a lost connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction
from pgvector.asyncpg import register_vector

from docpipe.common.access import groups_literal
from docpipe.common.auth import Principal
from docpipe.common.db_connect import DatabaseConnector
from docpipe.common.db_errors import (
    connection_loss,
    describe,
    is_closed,
    is_transient_connect_error,
)
from docpipe.common.exceptions import (
    DatabaseConnectionLost,
    DatabaseUnavailable,
    DatabaseUnreachable,
)
from docpipe.common.runtime import loop_resources
from docpipe.common.settings import CommonSettings

__all__ = ["close_pool", "get_pool", "tenant_transaction"]

#: One round trip sets everything row-level security reads, local to the transaction.
_SET_READER = (
    "select set_config('app.tenant_id', $1, true), set_config('app.subject', $2, true),"
    " set_config('app.groups', $3, true), set_config('app.admin', $4, true)"
)


_POOL = "pg-pool"
_ACQUIRE_TIMEOUTS = "pg-acquire-timeouts"
#: Longest wait for a pooled connection: the connect budget, plus a moment for the
#: connector to report its own, more precise, DatabaseUnreachable first.
_ACQUIRE_SLACK_S = 1.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


def _acquire_timeouts() -> dict[asyncpg.Pool, float]:
    """Per pool of the running loop."""
    return loop_resources().setdefault(_ACQUIRE_TIMEOUTS, dict)


async def get_pool(settings: CommonSettings) -> asyncpg.Pool:
    """The pool for these settings on the running loop, created on first use (connects
    lazily). One per connection target (a DSN or secret, and the role a DSN without a user
    connects as), so that two services served by one process (the tests) each connect as
    their own role."""
    key = (_POOL, settings.database_url, settings.database_secret_arn, settings.database_role)

    async def open_pool(stack: AsyncExitStack) -> asyncpg.Pool:
        connector = DatabaseConnector(settings)
        pool = await asyncpg.create_pool(
            connect=connector.connect,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            init=_init_connection,
            command_timeout=settings.database_command_timeout_seconds,
            max_inactive_connection_lifetime=300,
        )
        timeouts = _acquire_timeouts()
        timeouts[pool] = connector.budget_seconds + _ACQUIRE_SLACK_S
        stack.callback(timeouts.pop, pool, None)
        stack.push_async_callback(pool.close)
        return pool

    pool: asyncpg.Pool = await loop_resources().get(key, open_pool)
    return pool


async def close_pool() -> None:
    """Close every pool of the running loop (tests that switch databases)."""
    resources = loop_resources()
    for key in resources.keys():
        if isinstance(key, tuple) and key[:1] == (_POOL,):
            await resources.close(key)


def _settings_of(reader: str | Principal) -> tuple[str, str, str, str]:
    """``app.tenant_id``, ``app.subject``, ``app.groups``, ``app.admin`` for a transaction.

    A bare tenant id (the processor, working for the whole tenant) has no user, no
    groups and is no admin: for a role under the group policy that means open documents.
    """
    if isinstance(reader, str):
        return reader, "", "{}", "off"
    return (
        reader.tenant_id,
        reader.subject or "",
        groups_literal(reader.groups),
        "on" if reader.admin else "off",
    )


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, reader: str | Principal, **transaction_options: Any
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction where row-level security sees only what
    ``reader`` may: its tenant, its groups' documents (all of them for an admin) and its
    own conversations. A bare tenant id stands for the tenant as a whole (the processor).

    Commits when the block ends, rolls back when it raises. A connection lost on the way
    (server restarted, failed over, resumed from a pause; socket reset) raises
    :class:`~docpipe.common.exceptions.DatabaseConnectionLost`.
    """
    conn, transaction = await _begin(pool, _settings_of(reader), transaction_options)
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
    pool: asyncpg.Pool, values: tuple[str, str, str, str], options: dict[str, Any]
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
            await conn.execute(_SET_READER, *values)
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
    timeout = _acquire_timeouts().get(pool)
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
