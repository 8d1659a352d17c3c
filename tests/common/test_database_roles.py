"""Least privilege in the database (docs/architecture.md, "Tenancy"; migration 0007):
each service's role tries what it must never do, and gets "permission denied".

Every statement runs with the role's own tenant set, against rows of that tenant, so row-
level security would let it through: what stops it is the grant alone. Each role's
allowed counterpart runs too (the control), so a test cannot pass by a typo.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from docpipe.devstack.embedded import EmbeddedPostgres
from tests.conftest import TEST_DIMENSIONS

VECTOR = "[" + ",".join(["0.1"] * TEST_DIMENSIONS) + "]"


@dataclass(frozen=True)
class Seeded:
    tenant: str
    document: uuid.UUID
    chunk: uuid.UUID


@pytest.fixture
async def seeded(admin_conn: asyncpg.Connection, tenant: str) -> AsyncIterator[Seeded]:
    document, chunk = uuid.uuid4(), uuid.uuid4()
    await admin_conn.execute(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes,"
        " storage_key, status) values ($1, $2, 'd.txt', 'text/plain', 10, $3, 'completed')",
        document,
        tenant,
        f"uploads/{tenant}/{document}",
    )
    await admin_conn.execute(
        "insert into chunks (id, tenant_id, document_id, ordinal, page_start, page_end, text,"
        " content_sha256, embedding, keywords) values ($1, $2, $3, 0, 1, 1, 'text', 'h',"
        " $4::text::vector, to_tsvector('simple', 'text'))",
        chunk,
        tenant,
        document,
        VECTOR,
    )
    yield Seeded(tenant, document, chunk)
    await admin_conn.execute("delete from documents where tenant_id = $1", tenant)


def _insert_document(tenant: str) -> tuple[str, tuple[object, ...]]:
    new = uuid.uuid4()
    return (
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, storage_key,"
        " status) values ($1, $2, 'x.txt', 'text/plain', 1, $3, 'queued')",
        (new, tenant, f"uploads/{tenant}/{new}"),
    )


def _insert_chunk(s: Seeded) -> tuple[str, tuple[object, ...]]:
    return (
        "insert into chunks (id, tenant_id, document_id, ordinal, page_start, page_end, text,"
        " content_sha256, embedding, keywords) values ($1, $2, $3, 9, 1, 1, 'forged', 'h',"
        " $4::text::vector, to_tsvector('simple', 'forged'))",
        (uuid.uuid4(), s.tenant, s.document, VECTOR),
    )


def forbidden(role: str, s: Seeded) -> dict[str, tuple[str, tuple[object, ...]]]:
    """Statements ``role`` must be refused, by name."""
    doc, chunk, tenant = s.document, s.chunk, s.tenant
    reap = ("select * from docpipe_reap_stale_documents(interval '1 second', 5)", ())
    common = {
        "write usage": ("update tenant_usage set documents = 0 where tenant_id = $1", (tenant,)),
        "raise own quota": (
            "insert into tenant_quotas (tenant_id, max_documents) values ($1, 0)",
            (tenant,),
        ),
    }
    if role == "query":
        return common | {
            "insert document": _insert_document(tenant),
            "update document": ("update documents set filename = 'x' where id = $1", (doc,)),
            "delete document": ("delete from documents where id = $1", (doc,)),
            "insert chunk": _insert_chunk(s),
            "update chunk": ("update chunks set text = 'x' where id = $1", (chunk,)),
            "delete chunk": ("delete from chunks where id = $1", (chunk,)),
            "recover every tenant's documents": reap,
            "write embedding cache": (
                "insert into embedding_cache (tenant_id, model_id, content_sha256, embedding)"
                " values ($1, 'm', 'h', $2::text::vector)",
                (tenant, VECTOR),
            ),
            "write keyword statistics": ("delete from keyword_term_stats", ()),
            "write rate counters": ("delete from quota_rates", ()),
        }
    if role == "upload":
        return common | {
            "insert chunk": _insert_chunk(s),
            "delete chunk": ("delete from chunks where id = $1", (chunk,)),
            "rewrite chunk text": ("update chunks set text = 'x' where id = $1", (chunk,)),
            "recover every tenant's documents": reap,
            "read conversations": ("select count(*) from conversations", ()),
            "write embedding cache": (
                "insert into embedding_cache (tenant_id, model_id, content_sha256, embedding)"
                " values ($1, 'm', 'h', $2::text::vector)",
                (tenant, VECTOR),
            ),
        }
    assert role == "processor"
    return common | {
        "insert document": _insert_document(tenant),
        "delete document": ("delete from documents where id = $1", (doc,)),
        "change access": ("update documents set access = '{x}' where id = $1", (doc,)),
        "change tenant": ("update documents set tenant_id = 'other' where id = $1", (doc,)),
        "change metadata": ("update documents set metadata = '{}' where id = $1", (doc,)),
        "read conversations": ("select count(*) from conversations", ()),
        "write rate counters": ("delete from quota_rates", ()),
        "update chunk": ("update chunks set text = 'x' where id = $1", (chunk,)),
    }


def allowed(role: str, s: Seeded) -> dict[str, tuple[str, tuple[object, ...]]]:
    """What ``role`` does every day: the controls."""
    doc = s.document
    if role == "query":
        return {
            "read chunks": ("select count(*) from chunks where document_id = $1", (doc,)),
            "start a conversation": (
                "insert into conversations (id, tenant_id, owner_sub, title)"
                " values ($1, $2, 'u', 't')",
                (uuid.uuid4(), s.tenant),
            ),
        }
    if role == "upload":
        return {
            "insert document": _insert_document(s.tenant),
            "update document": ("update documents set metadata = '{}' where id = $1", (doc,)),
            "delete document": ("delete from documents where id = $1", (doc,)),
        }
    return {
        "insert chunk": _insert_chunk(s),
        "complete document": ("update documents set status = 'failed' where id = $1", (doc,)),
        "recover stale documents": (
            "select * from docpipe_reap_stale_documents(interval '1 hour', 5)",
            (),
        ),
    }


async def _attempt(conn: asyncpg.Connection, s: Seeded, sql: str, args: tuple[object, ...]) -> None:
    """Run one statement as the tenant (and its conversations' user), rolled back."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(
            "select set_config('app.tenant_id', $1, true), set_config('app.subject', 'u', true),"
            " set_config('app.admin', 'on', true)",
            s.tenant,
        )
        await conn.execute(sql, *args)
    finally:
        await transaction.rollback()


@pytest.mark.parametrize("role", ["query", "upload", "processor"])
async def test_each_service_role_is_refused_what_it_must_not_do(
    migrated: EmbeddedPostgres, seeded: Seeded, role: str
) -> None:
    conn = await asyncpg.connect(migrated.role_dsn(role))
    try:
        attributes = await conn.fetchrow(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles"
            " where rolname = current_user"
        )
        assert attributes is not None and not any(attributes.values())
        owned = await conn.fetchval(
            "select count(*) from pg_class where relowner ="
            " (select oid from pg_roles where rolname = current_user)"
        )
        assert owned == 0  # an owner could lift row-level security
        for sql, args in allowed(role, seeded).values():
            await _attempt(conn, seeded, sql, args)  # raises if refused
        refusals = {}
        for name, (sql, args) in forbidden(role, seeded).items():
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await _attempt(conn, seeded, sql, args)
            refusals[name] = str(refused.value)
        assert all("permission denied" in why for why in refusals.values()), refusals
    finally:
        await conn.close()


async def test_the_retired_shared_role_can_no_longer_log_in(migrated: EmbeddedPostgres) -> None:
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="not permitted"):
        await asyncpg.connect(migrated.dsn(user="docpipe_app"))


async def test_only_the_processor_may_run_the_cross_tenant_recovery(
    admin_conn: asyncpg.Connection,
) -> None:
    rows = await admin_conn.fetch(
        "select r.rolname from pg_roles r where has_function_privilege(r.oid,"
        " 'docpipe_reap_stale_documents(interval, integer)', 'execute')"
        " and not r.rolsuper and r.rolname like 'docpipe\\_%'"
    )
    # The maintenance role owns it (it cannot log in); the processor is the only caller.
    assert {r["rolname"] for r in rows} == {"docpipe_processor", "docpipe_maintenance"}
