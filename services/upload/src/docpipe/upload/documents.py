"""SQL for the documents the upload service manages.

Every function takes a connection opened by :func:`docpipe.common.db.tenant_transaction`;
row-level security scopes it to one tenant, so no query here filters by tenant itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from docpipe.common.documents import DOCUMENT_COLUMNS, Document, document_from_row

__all__ = [
    "LockedDocument",
    "NewDocument",
    "delete_document",
    "delete_documents",
    "find_by_sha256",
    "find_by_sha256s",
    "get_document",
    "insert_document",
    "insert_documents",
    "list_documents",
    "lock_document",
    "requeue_document",
    "restore_document",
]

_LOCKED_COLUMNS = f"{DOCUMENT_COLUMNS}, storage_key, attempts, processed_version"


@dataclass(frozen=True)
class LockedDocument:
    """A row held with ``FOR UPDATE``, with the internal columns needed to act on it."""

    document: Document
    storage_key: str
    attempts: int
    processed_version: str | None


async def insert_document(
    conn: asyncpg.Connection,
    *,
    document_id: uuid.UUID,
    tenant_id: str,
    filename: str,
    content_type: str,
    size_bytes: int,
    sha256: str | None,
    storage_key: str,
    status: str,
) -> Document | None:
    """Insert a row; None when the tenant already has a document with these bytes.

    ``on conflict do nothing`` waits for a concurrent insert of the same bytes to commit,
    so two simultaneous uploads end as one document (the unique index decides).
    """
    row = await conn.fetchrow(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, sha256,"
        " storage_key, status) values ($1, $2, $3, $4, $5, $6, $7, $8)"
        " on conflict (tenant_id, sha256) where sha256 is not null do nothing"
        f" returning {DOCUMENT_COLUMNS}",
        document_id,
        tenant_id,
        filename,
        content_type,
        size_bytes,
        sha256,
        storage_key,
        status,
    )
    return document_from_row(row) if row is not None else None


@dataclass(frozen=True)
class NewDocument:
    """A row :func:`insert_documents` inserts as ``queued`` (unless its bytes exist)."""

    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_key: str


async def insert_documents(
    conn: asyncpg.Connection, *, tenant_id: str, documents: list[NewDocument]
) -> dict[uuid.UUID, Document]:
    """Insert many ``queued`` rows in one statement; the inserted ones, by id.

    A row whose bytes the tenant already has is skipped (as :func:`insert_document`
    does), and so is a second row with the same bytes in ``documents``. ``created_at``
    follows the list's order, so a request's files list newest-last-uploaded first.
    """
    rows = await conn.fetch(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, sha256,"
        " storage_key, status, created_at, updated_at)"
        " select d.id, $1, d.filename, d.content_type, d.size_bytes, d.sha256, d.storage_key,"
        " 'queued', clock_timestamp(), clock_timestamp()"
        " from unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])"
        " with ordinality as d (id, filename, content_type, size_bytes, sha256, storage_key, n)"
        " order by d.n"
        " on conflict (tenant_id, sha256) where sha256 is not null do nothing"
        f" returning {DOCUMENT_COLUMNS}",
        tenant_id,
        [d.id for d in documents],
        [d.filename for d in documents],
        [d.content_type for d in documents],
        [d.size_bytes for d in documents],
        [d.sha256 for d in documents],
        [d.storage_key for d in documents],
    )
    inserted = [document_from_row(row) for row in rows]
    return {document.id: document for document in inserted}


async def find_by_sha256s(conn: asyncpg.Connection, *, sha256s: list[str]) -> dict[str, Document]:
    """The tenant's documents with any of these contents, by SHA-256."""
    rows = await conn.fetch(
        f"select {DOCUMENT_COLUMNS} from documents where sha256 = any($1::text[])", sha256s
    )
    found = [document_from_row(row) for row in rows]
    return {document.sha256: document for document in found if document.sha256 is not None}


async def find_by_sha256(conn: asyncpg.Connection, *, sha256: str) -> Document | None:
    row = await conn.fetchrow(f"select {DOCUMENT_COLUMNS} from documents where sha256 = $1", sha256)
    return document_from_row(row) if row is not None else None


async def get_document(conn: asyncpg.Connection, *, document_id: uuid.UUID) -> Document | None:
    row = await conn.fetchrow(
        f"select {DOCUMENT_COLUMNS} from documents where id = $1", document_id
    )
    return document_from_row(row) if row is not None else None


async def list_documents(
    conn: asyncpg.Connection,
    *,
    limit: int,
    status: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Document]:
    """Newest first; ``after`` is the (created_at, id) of the last row already returned."""
    conditions: list[str] = []
    args: list[Any] = []
    if status is not None:
        args.append(status)
        conditions.append(f"status = ${len(args)}")
    if after is not None:
        args.extend(after)
        conditions.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    where = f"where {' and '.join(conditions)}" if conditions else ""
    args.append(limit)
    rows = await conn.fetch(
        f"select {DOCUMENT_COLUMNS} from documents {where}"
        f" order by created_at desc, id desc limit ${len(args)}",
        *args,
    )
    return [document_from_row(row) for row in rows]


async def lock_document(
    conn: asyncpg.Connection, *, document_id: uuid.UUID
) -> LockedDocument | None:
    row = await conn.fetchrow(
        f"select {_LOCKED_COLUMNS} from documents where id = $1 for update", document_id
    )
    if row is None:
        return None
    return LockedDocument(
        document=document_from_row(row),
        storage_key=row["storage_key"],
        attempts=row["attempts"],
        processed_version=row["processed_version"],
    )


async def delete_document(conn: asyncpg.Connection, *, document_id: uuid.UUID) -> bool:
    """Delete the row, its chunks (cascade) and cached embeddings no other chunk uses."""
    await conn.execute(
        "delete from embedding_cache ec"
        " where ec.content_sha256 in (select content_sha256 from chunks where document_id = $1)"
        " and not exists (select 1 from chunks c where c.content_sha256 = ec.content_sha256"
        " and c.document_id <> $1)",
        document_id,
    )
    status = await conn.execute("delete from documents where id = $1", document_id)
    return bool(status == "DELETE 1")


async def delete_documents(conn: asyncpg.Connection, *, document_ids: list[uuid.UUID]) -> None:
    """Delete rows that never got their object (no chunks or cache entries exist yet)."""
    await conn.execute("delete from documents where id = any($1::uuid[])", document_ids)


async def requeue_document(conn: asyncpg.Connection, *, document_id: uuid.UUID) -> Document | None:
    """Back to ``queued`` for another run; None if the status does not allow it.

    ``processed_version`` is cleared so the processor does not take the new message for a
    duplicate delivery of the version it already processed.
    """
    row = await conn.fetchrow(
        "update documents set status = 'queued', error = null, processed_version = null,"
        " processed_at = null, attempts = 0, claim_token = null, processing_started_at = null,"
        " updated_at = now() where id = $1 and status in ('queued', 'completed', 'failed')"
        f" returning {DOCUMENT_COLUMNS}",
        document_id,
    )
    return document_from_row(row) if row is not None else None


async def restore_document(conn: asyncpg.Connection, *, previous: LockedDocument) -> None:
    """Undo :func:`requeue_document` (the message could not be sent), if nothing else ran."""
    doc = previous.document
    values: tuple[Any, ...] = (
        doc.id,
        doc.status,
        doc.error,
        previous.processed_version,
        doc.processed_at,
        previous.attempts,
    )
    await conn.execute(
        "update documents set status = $2, error = $3, processed_version = $4,"
        " processed_at = $5, attempts = $6, updated_at = now()"
        " where id = $1 and status = 'queued'",
        *values,
    )
