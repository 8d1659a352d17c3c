"""A rotated database password reaches a warm service without a redeploy.

The service reads its credentials from Secrets Manager (moto) once, and again only when
PostgreSQL rejects them. The server is a real PostgreSQL asking the services' role for its
SCRAM password. The secret's ``host`` is the server's socket directory: libpq's rule (a
host starting with ``/`` is a Unix socket, where TLS does not apply) lets the test skip
TLS, which pgserver's build cannot speak; TLS is tested in test_database_tls.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import boto3
import httpx
import pytest

from docpipe.common.migrations import SERVICE_ROLES
from docpipe.devstack.embedded import AwsResources
from docpipe.testkit.postgres_process import PostgresProcess, migrated_postgres
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app
from tests.conftest import TEST_DIMENSIONS

FIRST, SECOND = "first-password-0123456789abcdef", "second-password-0123456789abcdef"
BUDGET_S = 3.0
ROLE = SERVICE_ROLES["upload"]  # the service under test connects as its own role


pytestmark = pytest.mark.usefixtures("fresh_pool")


@pytest.fixture(scope="module")
async def password_database() -> AsyncIterator[PostgresProcess]:
    server = await migrated_postgres(
        embedding_dimensions=TEST_DIMENSIONS,
        role_passwords={ROLE: FIRST},
        hba=[f"local all {ROLE} scram-sha-256"],  # trust stays for the superuser
    )
    yield server
    server.remove()


@pytest.fixture
async def admin(password_database: PostgresProcess) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(password_database.dsn(database="docpipe"))
    await conn.execute(f"alter role {ROLE} password '{FIRST}'")
    yield conn
    await conn.close()


def _secret_value(server: PostgresProcess, password: str) -> str:
    return json.dumps(
        {
            "username": ROLE,
            "password": password,
            "host": server.socket_dir,
            "port": server.port,
            "dbname": "docpipe",
            "engine": "postgres",
        }
    )


@pytest.fixture
def secrets(moto_endpoint: str) -> Any:
    return boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="ap-northeast-1")


async def _rotate(admin: asyncpg.Connection, *, secret_too: bool, secrets: Any, arn: str,
                  server: PostgresProcess) -> None:  # fmt: skip
    """What a rotation does: a new password on the role (and in the secret)."""
    await admin.execute(f"alter role {ROLE} password '{SECOND}'")
    if secret_too:
        secrets.put_secret_value(SecretId=arn, SecretString=_secret_value(server, SECOND))


async def _end_app_sessions(admin: asyncpg.Connection) -> int:
    """Forces the pool to open a new connection: the old one dies with its session."""
    return int(
        await admin.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where usename = $1",
            ROLE,
        )
    )


def _client(server: PostgresProcess, arn: str, aws: AwsResources) -> httpx.AsyncClient:
    settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="none",
        database_url=None,
        database_secret_arn=arn,
        database_connect_budget_seconds=BUDGET_S,
        ingest_queue_url=aws.queue_url,
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://test"
    )


@pytest.mark.parametrize("secret_updated", [True, False], ids=["rotated", "secret-stale"])
async def test_a_rotated_password_reaches_a_warm_service(
    secret_updated: bool,
    password_database: PostgresProcess,
    admin: asyncpg.Connection,
    secrets: Any,
    aws: AwsResources,
) -> None:
    arn = secrets.create_secret(
        Name=f"app-{uuid.uuid4().hex}", SecretString=_secret_value(password_database, FIRST)
    )["ARN"]
    async with _client(password_database, arn, aws) as client:
        assert (await client.get("/v1/documents")).status_code == 200  # warm: secret read once
        await _rotate(
            admin, secret_too=secret_updated, secrets=secrets, arn=arn, server=password_database
        )
        assert (await client.get("/v1/documents")).status_code == 200  # still authenticated
        assert await _end_app_sessions(admin) >= 1
        after = await client.get("/v1/documents")
    if secret_updated:
        assert after.status_code == 200, after.text  # rejected, re-read, connected
    else:  # the control: the same stale secret is read again, and the database says no
        assert after.status_code == 503, after.text
        assert after.headers["content-type"] == "application/problem+json"
