"""Where the database is and who we connect as: DATABASE_URL locally, a Secrets Manager
secret on AWS. Each service connects as its own role: the username of its own secret on
AWS; locally the user DATABASE_URL names, or else the service's role
(``CommonSettings.database_role``).

The secret is read when a connection is needed, not at start-up, and read again when the
database rejects the password it held (:mod:`docpipe.common.db_connect`), so that a
rotated password reaches warm functions without a redeploy.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from docpipe.common.db_tls import verify_full_context
from docpipe.common.settings import CommonSettings

__all__ = ["DatabaseTarget", "read_secret", "read_target", "target_from_secret"]


@dataclass(frozen=True)
class DatabaseTarget:
    """Arguments for ``asyncpg.connect``: a DSN used as is, or the secret's fields.

    ``from_secret`` targets always verify the server (:func:`verify_full_context`); a host
    that is a directory (``/…``) is a Unix socket, where TLS does not apply (as in libpq).
    """

    dsn: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    ssl: ssl.SSLContext | None = field(default=None, repr=False)
    from_secret: bool = False

    def connect_kwargs(self) -> dict[str, Any]:
        if self.dsn is not None:
            return {"dsn": self.dsn} | ({"user": self.user} if self.user else {})
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "ssl": self.ssl,
        }


async def read_secret(settings: CommonSettings, arn: str) -> dict[str, Any]:
    """A JSON secret from Secrets Manager."""
    from docpipe.common.aws import client  # only on AWS: keeps local start-up lean

    sm = await client("secretsmanager", settings)
    value: dict[str, Any] = json.loads((await sm.get_secret_value(SecretId=arn))["SecretString"])
    return value


def target_from_secret(secret: dict[str, Any], settings: CommonSettings) -> DatabaseTarget:
    """``{"username", "password"[, "host", "port", "dbname"]}`` plus DATABASE_HOST/PORT/NAME.

    Raises ``ValueError`` for a secret without credentials or a host anywhere.
    """
    host = secret.get("host") or settings.database_host
    if not host:
        raise ValueError("the database secret has no host and DATABASE_HOST is not set")
    if not secret.get("username") or "password" not in secret:
        raise ValueError("the database secret has no username or password")
    return DatabaseTarget(
        host=str(host),
        port=int(secret.get("port") or settings.database_port),
        user=str(secret["username"]),
        password=str(secret["password"]),
        database=str(secret.get("dbname") or settings.database_name),
        ssl=verify_full_context(settings.database_ssl_root_cert),
        from_secret=True,
    )


async def read_target(settings: CommonSettings, *, secret_arn: str | None = None) -> DatabaseTarget:
    """The target described by ``secret_arn``'s secret when given; else DATABASE_URL (as
    the service's own role when it names no user), or DATABASE_SECRET_ARN's secret."""
    if secret_arn is None and settings.database_url:
        named = urlsplit(settings.database_url).username
        return DatabaseTarget(
            dsn=settings.database_url, user=None if named else settings.database_role
        )
    arn = secret_arn or settings.database_secret_arn
    assert arn is not None  # CommonSettings requires DATABASE_URL or DATABASE_SECRET_ARN
    return target_from_secret(await read_secret(settings, arn), settings)
