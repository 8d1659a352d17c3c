"""The schema as the services see it: role, row-level security, idempotent migrations."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from docpipe.common.exceptions import MigrationError
from docpipe.common.migrations import apply_migrations
from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.testkit.master_database import master_database
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


@pytest.mark.parametrize("service", ["upload", "query", "processor"])
async def test_service_roles_cannot_bypass_row_level_security(
    migrated: EmbeddedPostgres, service: str
) -> None:
    admin = await asyncpg.connect(migrated.admin_dsn)
    app = await asyncpg.connect(migrated.role_dsn(service))
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
                " storage_key, status)"
                " values ($1, 'tenant-b', 'x', 'text/plain', 1, 'k', 'queued')",
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


async def test_all_migrations_apply_as_a_non_superuser_master(migrated: EmbeddedPostgres) -> None:
    """As on Aurora: the master user has CREATEROLE and owns the database, but is no superuser.

    Superusers skip several privilege checks (function owners' schema privileges, SET ROLE
    membership), so a schema that only ever met one could still fail on the first deploy.
    """
    async with master_database(migrated, prefix="aurora") as database:
        conn = await database.connect()
        try:
            assert not await conn.fetchval(
                "select rolsuper from pg_roles where rolname = current_user"
            )
            applied = await apply_migrations(
                conn,
                embedding_dimensions=TEST_DIMENSIONS,
                role_passwords={"docpipe_query": "not-used-locally"},
            )
            assert applied and applied[0] == "0001_init"
            owners = await conn.fetch(
                "select proname, pg_get_userbyid(proowner) as owner from pg_proc"
                " where proname like 'docpipe\\_%' and prosecdef"
            )
            assert owners and {r["owner"] for r in owners} == {"docpipe_maintenance"}
        finally:
            await conn.close()


async def test_chunk_keywords_are_kept_in_the_row_not_in_toast(migrated: EmbeddedPostgres) -> None:
    """BM25 reads every candidate's tsvector; out of line, each read was a TOAST lookup.

    MAIN storage (migration 0003) makes the toaster move the embedding and the text out
    first; the measured effect is in docs/benchmarks.md §4.
    """
    conn = await asyncpg.connect(migrated.admin_dsn)
    try:
        storage = await conn.fetch(
            "select attname, attstorage from pg_attribute where attrelid = 'chunks'::regclass"
            " and attname in ('keywords', 'text', 'embedding') order by attname"
        )
    finally:
        await conn.close()
    assert {r["attname"]: r["attstorage"] for r in storage} == {
        "embedding": b"e",  # EXTERNAL (pgvector's default): out of line, uncompressed
        "keywords": b"m",  # MAIN: compressed in the row, out of line only as a last resort
        "text": b"x",  # EXTENDED: compressed, moved out of line when the row is too big
    }
