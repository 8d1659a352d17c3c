"""SQL for the documents the upload service manages.

Every function takes a connection opened by :func:`docpipe.common.db.tenant_transaction`;
row-level security scopes it to one tenant, so no query here filters by tenant itself.
"""

from __future__ import annotations

import json
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
    "get_stored",
    "find_by_sha256s",
    "get_document",
    "insert_document",
    "insert_documents",
    "list_documents",
    "lock_document",
    "requeue_document",
    "restore_document",
    "find_twin",
    "update_document",
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
    metadata: dict[str, Any] | None = None,
    access: list[str] | None = None,
) -> Document | None:
    """Insert a row; None when the tenant already has a document with these bytes and
    this access list.

    ``on conflict do nothing`` waits for a concurrent insert of the same bytes to commit,
    so two simultaneous uploads end as one document (the unique index decides). The
    conflicting row has the same access list, so whoever may insert this one sees it.
    """
    row = await conn.fetchrow(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, sha256,"
        " storage_key, status, metadata, access)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::text[])"
        " on conflict (tenant_id, access, sha256) where sha256 is not null do nothing"
        f" returning {DOCUMENT_COLUMNS}",
        document_id,
        tenant_id,
        filename,
        content_type,
        size_bytes,
        sha256,
        storage_key,
        status,
        json.dumps(metadata or {}),
        access or [],
    )
    return document_from_row(row) if row is not None else None


async def update_document(
    conn: asyncpg.Connection,
    *,
    document_id: uuid.UUID,
    metadata: dict[str, Any] | None,
    access: list[str] | None,
) -> Document | None:
    """Replace the metadata and/or access given (None: unchanged); None when there is no
    such document. A new access list reaches the document's chunks in this statement
    (trigger ``documents_access_to_chunks``), so the next search sees it."""
    row = await conn.fetchrow(
        "update documents set metadata = coalesce($2::jsonb, metadata),"
        " access = coalesce($3::text[], access), updated_at = now() where id = $1"
        f" returning {DOCUMENT_COLUMNS}",
        document_id,
        json.dumps(metadata) if metadata is not None else None,
        access,
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
    conn: asyncpg.Connection,
    *,
    tenant_id: str,
    documents: list[NewDocument],
    metadata: dict[str, Any],
    access: list[str],
) -> dict[uuid.UUID, Document]:
    """Insert many ``queued`` rows (one request's files: one metadata and access list) in
    one statement; the inserted ones, by id.

    A row whose bytes the tenant already has with this access list is skipped (as
    :func:`insert_document` does), and so is a second row with the same bytes in
    ``documents``. ``created_at`` follows the list's order.
    """
    rows = await conn.fetch(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, sha256,"
        " storage_key, status, metadata, access, created_at, updated_at)"
        " select d.id, $1, d.filename, d.content_type, d.size_bytes, d.sha256, d.storage_key,"
        " 'queued', $8::jsonb, $9::text[], clock_timestamp(), clock_timestamp()"
        " from unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])"
        " with ordinality as d (id, filename, content_type, size_bytes, sha256, storage_key, n)"
        " order by d.n"
        " on conflict (tenant_id, access, sha256) where sha256 is not null do nothing"
        f" returning {DOCUMENT_COLUMNS}",
        tenant_id,
        [d.id for d in documents],
        [d.filename for d in documents],
        [d.content_type for d in documents],
        [d.size_bytes for d in documents],
        [d.sha256 for d in documents],
        [d.storage_key for d in documents],
        json.dumps(metadata),
        access,
    )
    inserted = [document_from_row(row) for row in rows]
    return {document.id: document for document in inserted}


async def find_by_sha256s(
    conn: asyncpg.Connection, *, sha256s: list[str], access: list[str]
) -> dict[str, Document]:
    """Documents with any of these contents among those this transaction sees (row-level
    security: the caller's), by SHA-256; for each, the one with this access list first."""
    rows = await conn.fetch(
        f"select distinct on (sha256) {DOCUMENT_COLUMNS} from documents"
        " where sha256 = any($1::text[])"
        " order by sha256, access = $2::text[] desc, created_at, id",
        sha256s,
        access,
    )
    found = [document_from_row(row) for row in rows]
    return {document.sha256: document for document in found if document.sha256 is not None}


async def find_twin(
    conn: asyncpg.Connection, *, document_id: uuid.UUID, access: list[str]
) -> uuid.UUID | None:
    """Another document with the same bytes as this one and this access list."""
    twin: uuid.UUID | None = await conn.fetchval(
        "select t.id from documents d join documents t on t.sha256 = d.sha256"
        " and t.access = $2::text[] and t.id <> d.id where d.id = $1",
        document_id,
        access,
    )
    return twin


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
    return await get_stored(conn, document_id=document_id, for_update=True)


async def get_stored(
    conn: asyncpg.Connection, *, document_id: uuid.UUID, for_update: bool = False
) -> LockedDocument | None:
    """The row with its internal columns (``for_update``: locked until the transaction ends)."""
    lock = " for update" if for_update else ""
    row = await conn.fetchrow(
        f"select {_LOCKED_COLUMNS} from documents where id = $1{lock}", document_id
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
