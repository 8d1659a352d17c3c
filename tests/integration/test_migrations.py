"""The schema as the services see it: role, row-level security, idempotent migrations."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from docpipe.common.migrations import MigrationError, apply_migrations
from docpipe.devstack.embedded import EmbeddedPostgres
from tests.conftest import TEST_DIMENSIONS


async def test_migrations_are_idempotent_and_refuse_a_dimension_change(
    migrated: EmbeddedPostgres,
) -> None:
    conn = await asyncpg.connect(migrated.admin_dsn)
    try:
        assert await apply_migrations(conn, embedding_dimensions=TEST_DIMENSIONS) == []
        with pytest.raises(MigrationError, match="EMBEDDING_DIMENSIONS"):
            await apply_migrations(conn, embedding_dimensions=TEST_DIMENSIONS * 2)
    finally:
        await conn.close()


async def test_app_role_cannot_bypass_row_level_security(migrated: EmbeddedPostgres) -> None:
    admin = await asyncpg.connect(migrated.admin_dsn)
    app = await asyncpg.connect(migrated.app_dsn)
    try:
        role = await app.fetchrow(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user"
        )
        assert role is not None and not role["rolsuper"] and not role["rolbypassrls"]
        doc_id = uuid.uuid4()
        await admin.execute(
            "insert into documents (id, tenant_id, filename, content_type, size_bytes,"
            " storage_key, status) values ($1, 'tenant-b', 'b.txt', 'text/plain', 1, $2, 'queued')",
            doc_id,
            f"uploads/x/{doc_id}",
        )
        # No tenant set: nothing is visible, nothing can be written.
        assert await app.fetchval("select count(*) from documents") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(
                "insert into documents (id, tenant_id, filename, content_type, size_bytes,"
                " storage_key, status) values ($1, 'tenant-b', 'x', 'text/plain', 1, 'k', 'queued')",
                uuid.uuid4(),
            )
        # Another tenant set for one transaction: still nothing; and it does not persist.
        async with app.transaction():
            await app.execute("select set_config('app.tenant_id', 'tenant-a', true)")
            assert await app.fetchval("select count(*) from documents where id = $1", doc_id) == 0
        async with app.transaction():
            await app.execute("select set_config('app.tenant_id', 'tenant-b', true)")
            assert await app.fetchval("select count(*) from documents where id = $1", doc_id) == 1
        assert await app.fetchval("select current_setting('app.tenant_id', true)") in ("", None)
    finally:
        await admin.execute("delete from documents where tenant_id = 'tenant-b'")
        await admin.close()
        await app.close()
