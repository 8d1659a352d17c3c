"""The migration function as `pulumi up` and the rollout command invoke it.

Its Lambda handler reads the master and app secrets from Secrets Manager (moto), connects
to a real PostgreSQL 16 + pgvector server, and applies the SQL packaged with the code it
runs, but only when the manifest the deploy sends is exactly that code's. The secret's
``host`` is the server's socket directory (a Unix socket, where TLS does not apply:
pgserver cannot speak TLS; the verified-TLS path is in test_database_tls.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import boto3
import pytest

from docpipe.common.migrations import manifest_fingerprint, migration_manifest
from docpipe.devstack.embedded import free_port
from docpipe.processor import migrate_handler
from docpipe.testkit.postgres_process import PostgresProcess, pgserver_bin_dir
from tests.conftest import TEST_DIMENSIONS

APP_PASSWORD = "app-password-set-by-the-migration-0123"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresProcess]:
    process = PostgresProcess(
        pgserver_bin_dir(),
        port=free_port(),
        hba=["local all docpipe_app scram-sha-256"],  # trust stays for the master user
    )
    process.start()
    yield process
    process.remove()


def _database(server: PostgresProcess) -> str:
    name = f"m{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        admin = await asyncpg.connect(server.dsn())
        try:
            await admin.execute(f'create database "{name}"')
        finally:
            await admin.close()

    asyncio.run(create())
    return name


@pytest.fixture
def environment(
    server: PostgresProcess, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The function's environment as the Pulumi program sets it, on a fresh database."""
    database = _database(server)
    secrets = boto3.client(
        "secretsmanager", endpoint_url=moto_endpoint, region_name="ap-northeast-1"
    )

    def secret(value: dict[str, Any]) -> str:
        name = f"migrate-{uuid.uuid4().hex[:8]}"
        return str(secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])

    master = secret(
        {"username": "postgres", "password": "unused-over-trust", "host": server.socket_dir,
         "port": server.port, "dbname": database}
    )  # fmt: skip
    app = secret({"username": "docpipe_app", "password": APP_PASSWORD})
    for key, value in {
        "MASTER_SECRET_ARN": master,
        "APP_DATABASE_SECRET_ARN": app,
        "DATABASE_SECRET_ARN": app,
        "DATABASE_HOST": server.socket_dir,
        "DATABASE_PORT": str(server.port),
        "DATABASE_NAME": database,
        "EMBEDDING_DIMENSIONS": str(TEST_DIMENSIONS),
        "DATABASE_CONNECT_BUDGET_SECONDS": "5",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return database


def _applied(server: PostgresProcess, database: str) -> list[str] | None:
    async def read() -> list[str] | None:
        conn = await asyncpg.connect(server.dsn(database=database))
        try:
            if not await conn.fetchval("select to_regclass('schema_migrations') is not null"):
                return None
            return [
                r["version"]
                for r in await conn.fetch("select version from schema_migrations order by 1")
            ]
        finally:
            await conn.close()

    return asyncio.run(read())


def test_the_deploys_manifest_is_applied_from_the_functions_own_sql(
    server: PostgresProcess, environment: str
) -> None:
    manifest = migration_manifest()
    result = migrate_handler.handler({"action": "migrate", "expected": manifest})
    assert result["applied"] == list(manifest)
    assert result["carried"] == {
        "versions": list(manifest),
        "fingerprint": manifest_fingerprint(manifest),
    }
    assert _applied(server, environment) == list(manifest)

    async def app_logs_in() -> int:
        conn = await asyncpg.connect(
            server.dsn(user="docpipe_app", database=environment), password=APP_PASSWORD
        )
        try:
            return int(await conn.fetchval("select count(*) from documents"))
        finally:
            await conn.close()

    assert asyncio.run(app_logs_in()) == 0  # the services' role got its password
    again = migrate_handler.handler({"action": "migrate"})  # the rollout's call: own SQL
    assert again["applied"] == []


def test_a_manifest_from_another_checkout_applies_nothing(
    server: PostgresProcess, environment: str
) -> None:
    newer = {**migration_manifest(), "9999_only_in_a_newer_checkout": "0" * 64}
    with pytest.raises(migrate_handler.MigrationMismatch, match="expected but not carried"):
        migrate_handler.handler({"action": "migrate", "expected": newer})
    older = dict(list(migration_manifest().items())[:-1])
    with pytest.raises(migrate_handler.MigrationMismatch, match="carried but not expected"):
        migrate_handler.handler({"action": "migrate", "expected": older})
    assert _applied(server, environment) is None  # not even the bookkeeping table
