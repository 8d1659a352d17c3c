"""Opening a database connection within a time budget.

Every new connection (the pool's ``connect=`` callback, and the migration function) goes
through :meth:`DatabaseConnector.connect`, which

- gives up after ``DATABASE_CONNECT_BUDGET_SECONDS``, every retry included, with
  :class:`~docpipe.common.exceptions.DatabaseUnreachable`: no request hangs on a database
  that is gone, or on a listener that accepts and never answers;
- retries what passes (refused, reset, timed out, starting up, too many connections) with
  a short jittered backoff, and gives each attempt the whole remaining budget. Aurora
  Serverless v2 resuming from its 0-ACU pause holds a new connection until the instance is
  up, typically about 15 s, 30 s or more after a day paused ("How auto-pause works" and
  "Application design considerations" in
  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html);
  one patient attempt is what such a resume needs;
- re-reads the secret once when the database rejects the credentials it held (a rotated
  password), and retries at once;
- does not retry what cannot pass: a server certificate that does not verify, a
  misconfigured secret, an unknown database.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import asyncpg
from asyncpg import exceptions as pg

from docpipe.common.db_credentials import DatabaseTarget, read_target
from docpipe.common.db_errors import describe, is_transient_connect_error
from docpipe.common.exceptions import DatabaseUnreachable
from docpipe.common.logging import get_logger
from docpipe.common.settings import CommonSettings

__all__ = ["DatabaseConnector"]

_log = get_logger("docpipe.db")
_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 2.0
_AUTH_ERRORS = (pg.InvalidPasswordError, pg.InvalidAuthorizationSpecificationError)


class _RetryableSecretError(Exception):
    """Reading the secret failed in a way that may pass (endpoint unreachable, throttled)."""


class DatabaseConnector:
    """Connections to the configured database, one budgeted :meth:`connect` at a time.

    Holds the target (DSN or the secret's credentials) between connections, so the secret
    is read once per process until the database rejects it. ``secret_arn`` names another
    secret than the settings' (the migration function connects as the master user).
    """

    def __init__(self, settings: CommonSettings, *, secret_arn: str | None = None) -> None:
        self._settings = settings
        self._secret_arn = secret_arn
        self._target: DatabaseTarget | None = None

    @property
    def budget_seconds(self) -> float:
        return self._settings.database_connect_budget_seconds

    async def connect(self, *_: Any, **connect_options: Any) -> asyncpg.Connection:
        """A new connection, or :class:`DatabaseUnreachable` within the budget.

        ``connect_options`` are passed to ``asyncpg.connect`` (the pool passes its loop,
        connection and record classes, and ``command_timeout``).
        """
        deadline = time.monotonic() + self.budget_seconds
        backoff, attempts, reread = _FIRST_BACKOFF_S, 0, False
        last_error: BaseException | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            attempts += 1
            try:
                target = await self._current_target(remaining)
                return await asyncpg.connect(
                    **target.connect_kwargs(), timeout=remaining, **connect_options
                )
            except _AUTH_ERRORS as exc:
                if reread or not target.from_secret:
                    raise self._unreachable("the database rejected the credentials", exc) from exc
                reread = self._forget(target)  # a rotated password: read the secret again
                continue
            except Exception as exc:
                if not _worth_retrying(exc):
                    raise self._unreachable("cannot connect to the database", exc) from exc
                last_error = exc
            await asyncio.sleep(
                max(0.0, min(backoff * random.uniform(0.5, 1.0), deadline - time.monotonic()))
            )
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
        reason = f"no database connection within {self.budget_seconds:g} s ({attempts} attempts)"
        raise self._unreachable(reason, last_error) from last_error

    def _forget(self, rejected: DatabaseTarget) -> bool:
        _log.warning("database credentials rejected; reading the secret again")
        if self._target is rejected:  # another connection may have re-read it already
            self._target = None
        return True

    async def _current_target(self, remaining: float) -> DatabaseTarget:
        if self._target is None:
            try:
                self._target = await asyncio.wait_for(
                    read_target(self._settings, secret_arn=self._secret_arn), remaining
                )
            except (TimeoutError, ValueError):  # out of budget; a malformed secret
                raise
            except Exception as exc:  # botocore's errors: not imported unless on AWS
                raise _RetryableSecretError(describe(exc)) from exc
        return self._target

    def _unreachable(self, reason: str, cause: BaseException | None) -> DatabaseUnreachable:
        detail = f"{reason}: {describe(cause)}" if cause is not None else reason
        _log.warning("database unreachable", extra={"reason": detail})
        return DatabaseUnreachable(detail)


def _worth_retrying(exc: Exception) -> bool:
    return isinstance(exc, _RetryableSecretError) or is_transient_connect_error(exc)
