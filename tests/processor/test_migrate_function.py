"""The migration function as `pulumi up` and the rollout command invoke it.

Its Lambda handler reads the master secret and each service role's secret from Secrets
Manager (moto), connects
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

from docpipe.common.migrations import SERVICE_ROLES, manifest_fingerprint, migration_manifest
from docpipe.devstack.embedded import free_port
from docpipe.processor import migrate_handler
from docpipe.processor.exceptions import MigrationMismatch
from docpipe.testkit.postgres_process import PostgresProcess, pgserver_bin_dir
from tests.conftest import TEST_DIMENSIONS

#: each service role's password, as its own secret holds it
PASSWORDS = {
    role: f"{service}-password-set-by-the-migration-0123" for service, role in SERVICE_ROLES.items()
}


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresProcess]:
    process = PostgresProcess(
        pgserver_bin_dir(),
        port=free_port(),
        # the service roles need their password; trust stays for the master user
        hba=[f"local all {role} scram-sha-256" for role in SERVICE_ROLES.values()],
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
def secrets(moto_endpoint: str) -> Any:
    return boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="ap-northeast-1")


def _secret(secrets: Any, value: dict[str, Any]) -> str:
    name = f"migrate-{uuid.uuid4().hex[:8]}"
    return str(secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


@pytest.fixture
def environment(server: PostgresProcess, secrets: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The function's environment as the Pulumi program sets it (stacks/.../migrations.py),
    on a fresh database."""
    database = _database(server)
    master = _secret(
        secrets,
        {
            "username": "postgres",
            "password": "unused-over-trust",
            "host": server.socket_dir,
            "port": server.port,
            "dbname": database,
        },
    )
    for service, role in SERVICE_ROLES.items():
        arn = _secret(secrets, {"username": role, "password": PASSWORDS[role]})
        monkeypatch.setenv(f"{service.upper()}_DATABASE_SECRET_ARN", arn)
    for key, value in {
        "MASTER_SECRET_ARN": master,
        "DATABASE_SECRET_ARN": master,
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

    assert result["role_passwords_set"] == sorted(SERVICE_ROLES.values())

    async def logs_in(role: str, password: str) -> str:
        conn = await asyncpg.connect(server.dsn(user=role, database=environment), password=password)
        try:
            return str(await conn.fetchval("select current_user"))
        finally:
            await conn.close()

    for role, password in PASSWORDS.items():  # each service role got its own password
        assert asyncio.run(logs_in(role, password)) == role
    query = SERVICE_ROLES["query"]
    with pytest.raises(asyncpg.InvalidPasswordError):  # the control: not another's
        asyncio.run(logs_in(query, PASSWORDS[SERVICE_ROLES["upload"]]))
    again = migrate_handler.handler({"action": "migrate"})  # the rollout's call: own SQL
    assert again["applied"] == []


def test_a_manifest_from_another_checkout_applies_nothing(
    server: PostgresProcess, environment: str
) -> None:
    newer = {**migration_manifest(), "9999_only_in_a_newer_checkout": "0" * 64}
    with pytest.raises(MigrationMismatch, match="expected but not carried"):
        migrate_handler.handler({"action": "migrate", "expected": newer})
    older = dict(list(migration_manifest().items())[:-1])
    with pytest.raises(MigrationMismatch, match="carried but not expected"):
        migrate_handler.handler({"action": "migrate", "expected": older})
    assert _applied(server, environment) is None  # not even the bookkeeping table


def test_a_secret_of_another_role_sets_no_password(
    server: PostgresProcess, environment: str, secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QUERY_DATABASE_SECRET_ARN pointing at the processor's secret (a wiring mistake)
    would give the read-only role the processor's grants' password: refused, nothing
    applied."""
    swapped = _secret(secrets, {"username": SERVICE_ROLES["processor"], "password": "p" * 32})
    monkeypatch.setenv("QUERY_DATABASE_SECRET_ARN", swapped)
    with pytest.raises(ValueError, match="not of 'docpipe_query'"):
        migrate_handler.handler({"action": "migrate", "expected": migration_manifest()})
    assert _applied(server, environment) is None
