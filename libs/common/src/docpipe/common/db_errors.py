"""Which driver errors mean the database is unavailable.

Everything that opens or uses a connection (:mod:`docpipe.common.db`,
:mod:`docpipe.common.db_connect`) turns a refused, hanging, lost or not-yet-ready
database into a :class:`~docpipe.common.exceptions.DatabaseUnavailable`, so that
callers catch one type: the HTTP services answer 503 with ``Retry-After``
(:func:`docpipe.common.web.install_common`), the processor gives its messages back to SQS.
"""

from __future__ import annotations

import ssl
import traceback

import asyncpg
from asyncpg import exceptions as pg

from docpipe.common.exceptions import DatabaseConnectionLost

__all__ = [
    "connection_loss",
    "describe",
    "is_closed",
    "is_transient_connect_error",
]


#: Server states that end or refuse a session but pass: shutdown, crash recovery,
#: start-up (57P01-57P03), too many connections (53300), and the 08xxx connection class.
_SERVER_GOING_AWAY = (
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.CannotConnectNowError,
    pg.TooManyConnectionsError,
    asyncpg.PostgresConnectionError,
)


def is_transient_connect_error(exc: BaseException) -> bool:
    """True when opening a connection failed in a way that retrying can fix.

    Refused, reset or timed-out sockets and DNS failures (``OSError``), and a server that
    is shutting down, starting or full. Not: rejected credentials, a certificate that does
    not verify (an ``OSError`` too, but permanent), an unknown database.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, (OSError, *_SERVER_GOING_AWAY))


def connection_loss(
    exc: BaseException, connection: asyncpg.Connection | None
) -> DatabaseConnectionLost | None:
    """The :class:`DatabaseConnectionLost` that ``exc`` amounts to, or None.

    ``exc`` was raised while ``connection`` was in use. A driver error counts as loss when
    the server ended the session, the connection is now closed, or the driver lost track
    of the protocol (``InternalClientError``: the server's goodbye arrived while the
    connection sat idle in the pool); a ``TimeoutError`` counts when the driver raised it
    (``command_timeout``: the server stopped answering).
    Anything else (a constraint violation, a bug) is not the database being unavailable.
    """
    closed = connection is not None and is_closed(connection)
    if isinstance(exc, _SERVER_GOING_AWAY):
        return DatabaseConnectionLost(f"the database ended the session: {describe(exc)}")
    if isinstance(exc, asyncpg.InternalClientError):  # e.g. a FATAL that came while idle
        return DatabaseConnectionLost(f"the database connection broke: {describe(exc)}")
    if isinstance(exc, OSError | asyncpg.InterfaceError) and closed:
        return DatabaseConnectionLost(f"the database connection was lost: {describe(exc)}")
    if isinstance(exc, TimeoutError) and _raised_by_driver(exc):
        return DatabaseConnectionLost("the database did not answer in time")
    return None


def is_closed(connection: asyncpg.Connection) -> bool:
    """True when the connection is gone; a pooled connection's proxy is detached then."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:  # "connection has been released back to the pool"
        return True


def describe(exc: BaseException) -> str:
    """``Type: message`` for logs (driver messages name hosts, never passwords)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _raised_by_driver(exc: BaseException) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith("asyncpg")
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )
