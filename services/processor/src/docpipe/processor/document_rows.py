"""The processor's database work: claiming a document, caching embeddings, writing results.

Delivery is at-least-once, so every step is safe to repeat: a claim is a lease on the
document row (a token plus a start time), results are written only by the holder of the
current token, and the write replaces the document's chunks in one transaction.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import numpy as np
from pgvector import Vector

from docpipe.common.db import tenant_transaction
from docpipe.common.keywords import keyword_text, tsvector_sql

__all__ = [
    "ChunkRow",
    "Claim",
    "ClaimOutcome",
    "cached_embeddings",
    "claim_document",
    "complete_document",
    "fail_document",
    "reap_stale_documents",
    "release_document",
    "store_embeddings",
]


#: Client-side timeout of the statements that write a whole document's chunks. Index
#: maintenance (HNSW, GIN) grows with the chunk count: a 1,000-chunk document can take
#: longer than the pool's 60 s default on a busy database, and a timeout there would fail
#: every attempt alike. Bounded by the function's own timeout (Lambda: 900 s).
WRITE_TIMEOUT_S = 600.0


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"
    MISSING = "missing"  # no such document (deleted): its object goes too
    STRAY = "stray"  # another version than the one the document was made from: it goes
    DONE = "done"  # this object version already ended completed/failed: a duplicate delivery
    BUSY = "busy"  # another worker holds a live lease: try again later
    GAVE_UP = "gave_up"  # attempts exhausted: the document is now failed


#: ``documents.failure_kind`` of a document whose transient failures used up every attempt.
EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    token: uuid.UUID | None = None
    attempt: int = 0
    filename: str | None = None
    #: The S3 version the document was first made from (None until one was processed).
    object_version: str | None = None


@dataclass(frozen=True)
class ChunkRow:
    ordinal: int
    page_start: int | None  # None for formats without pages
    page_end: int | None
    text: str
    content_sha256: str
    embedding: np.ndarray


async def claim_document(
    pool: asyncpg.Pool,
    *,
    tenant_id: str,
    document_id: uuid.UUID,
    storage_key: str,
    version: str | None,
    lease: timedelta,
    max_attempts: int,
    version_id: str | None = None,
) -> Claim:
    """Take a lease on the document for this object version, or say why not.

    A document that ended ``failed`` at this version is done (a duplicate delivery) —
    unless it failed because transient errors used up every attempt (``exhausted``): a
    message redriven from the dead-letter queue then claims it again with fresh attempts.

    A document is made from one object version: once one was processed, another version
    of its key (its presigned POST used again) is ``STRAY``, never processed. Versions are
    compared by S3 version id (``version_id``: an S3 notification of a versioned bucket
    carries it, https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
    """
    async with tenant_transaction(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            "select status, attempts, processed_version, object_version, storage_key,"
            " filename, failure_kind,"
            " processing_started_at > now() - $2::interval as lease_live"
            " from documents where id = $1 for update",
            document_id,
            lease,
        )
        if row is None or row["storage_key"] != storage_key:
            return Claim(ClaimOutcome.MISSING)
        if version_id is not None and row["object_version"] not in (None, version_id):
            return Claim(ClaimOutcome.STRAY)
        redriven = row["status"] == "failed" and row["failure_kind"] == EXHAUSTED
        if (
            row["status"] in ("completed", "failed")
            and version is not None
            and (row["processed_version"] == version)
            and not redriven
        ):
            return Claim(ClaimOutcome.DONE)
        if row["status"] == "processing" and row["lease_live"]:
            return Claim(ClaimOutcome.BUSY)
        if row["attempts"] >= max_attempts and not redriven:
            await _set_failed(
                conn,
                document_id=document_id,
                reason=f"processing did not finish after {row['attempts']} attempts",
                version=version,
                kind=EXHAUSTED,
            )
            return Claim(ClaimOutcome.GAVE_UP)
        token = uuid.uuid4()
        attempt = await conn.fetchval(
            "update documents set status = 'processing',"
            " attempts = case when $3 then 1 else attempts + 1 end,"
            " claim_token = $2, processing_started_at = now(), updated_at = now()"
            " where id = $1 returning attempts",
            document_id,
            token,
            redriven,
        )
        return Claim(
            ClaimOutcome.CLAIMED,
            token=token,
            attempt=int(attempt),
            filename=row["filename"],
            object_version=row["object_version"],
        )


async def _set_failed(
    conn: asyncpg.Connection,
    *,
    document_id: uuid.UUID,
    reason: str,
    version: str | None,
    kind: str,
    object_version: str | None = None,
) -> None:
    await conn.execute(
        "update documents set status = 'failed', error = $2, processed_version = $3,"
        " object_version = coalesce(object_version, $5),"
        " failure_kind = $4, warnings = '{}', claim_token = null,"
        " processing_started_at = null, processed_at = now(), updated_at = now() where id = $1",
        document_id,
        reason[:2000],
        version,
        kind,
        object_version,
    )


async def _holds_claim(
    conn: asyncpg.Connection, *, document_id: uuid.UUID, token: uuid.UUID
) -> bool:
    current = await conn.fetchval(
        "select claim_token from documents where id = $1 for update", document_id
    )
    return bool(current == token)


async def fail_document(
    pool: asyncpg.Pool,
    *,
    tenant_id: str,
    document_id: uuid.UUID,
    token: uuid.UUID,
    reason: str,
    version: str | None,
    kind: str,
    object_version: str | None = None,
) -> bool:
    """End the document ``failed`` with a user-facing reason and the failure's kind
    (only if this worker still holds it). ``object_version``: the S3 version id read."""
    async with tenant_transaction(pool, tenant_id) as conn:
        if not await _holds_claim(conn, document_id=document_id, token=token):
            return False
        await _set_failed(
            conn,
            document_id=document_id,
            reason=reason,
            version=version,
            kind=kind,
            object_version=object_version,
        )
        return True


async def release_document(
    pool: asyncpg.Pool, *, tenant_id: str, document_id: uuid.UUID, token: uuid.UUID, reason: str
) -> None:
    """Give a claim back after a transient failure, so the redelivery can claim at once."""
    async with tenant_transaction(pool, tenant_id) as conn:
        if await _holds_claim(conn, document_id=document_id, token=token):
            await conn.execute(
                "update documents set status = 'queued', claim_token = null,"
                " processing_started_at = null, error = $2, updated_at = now() where id = $1",
                document_id,
                f"attempt failed, will retry: {reason}"[:2000],
            )


async def cached_embeddings(
    pool: asyncpg.Pool, *, tenant_id: str, model_id: str, hashes: Sequence[str]
) -> dict[str, np.ndarray]:
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch(
            "select content_sha256, embedding from embedding_cache"
            " where model_id = $1 and content_sha256 = any($2::text[])",
            model_id,
            list(hashes),
        )
    # The codec decodes a pgvector ``Vector``; the pipeline works with ndarrays.
    return {r["content_sha256"]: r["embedding"].to_numpy() for r in rows}


async def store_embeddings(
    pool: asyncpg.Pool,
    *,
    tenant_id: str,
    model_id: str,
    embeddings: Mapping[str, Sequence[float]],
) -> None:
    """Cache embeddings as soon as a group is done, so a retry never pays for them again."""
    if not embeddings:
        return
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.executemany(
            "insert into embedding_cache (tenant_id, model_id, content_sha256, embedding)"
            " values ($1, $2, $3, $4) on conflict do nothing",
            [
                (tenant_id, model_id, digest, np.asarray(vector, dtype=np.float32))
                for digest, vector in embeddings.items()
            ],
        )


async def complete_document(
    pool: asyncpg.Pool,
    *,
    tenant_id: str,
    document_id: uuid.UUID,
    token: uuid.UUID,
    version: str | None,
    sha256: str,
    size_bytes: int,
    page_count: int | None,
    content_type: str,
    warnings: Sequence[str],
    chunks: Sequence[ChunkRow],
    object_version: str | None = None,
) -> str | None:
    """Replace the document's chunks and mark it completed, in one transaction.

    Returns None on success, or the reason the write was refused (the claim was lost, or
    the same bytes already exist as another document with the same access list: whoever
    sees this document sees that one, so naming it reveals nothing).
    """
    async with tenant_transaction(pool, tenant_id) as conn:
        if not await _holds_claim(conn, document_id=document_id, token=token):
            return "claim lost to another worker"
        twin = await conn.fetchval(
            "select t.id from documents t join documents d on d.id = $2"
            " where t.sha256 = $1 and t.access = d.access and t.id <> d.id",
            sha256,
            document_id,
        )
        if twin is not None:
            reason = f"duplicate of document {twin} (same content)"
            await _set_failed(
                conn,
                document_id=document_id,
                reason=reason,
                version=version,
                kind="duplicate",
                object_version=object_version,
            )
            return reason
        await conn.execute(
            "delete from chunks where document_id = $1", document_id, timeout=WRITE_TIMEOUT_S
        )
        await _insert_chunks(conn, tenant_id=tenant_id, document_id=document_id, chunks=chunks)
        await conn.execute(
            "update documents set status = 'completed', error = null, failure_kind = null,"
            " sha256 = $2, size_bytes = $3, page_count = $4, chunk_count = $5,"
            " processed_version = $6, object_version = coalesce(object_version, $9),"
            " content_type = $7, warnings = $8::text[],"
            " claim_token = null, processing_started_at = null, processed_at = now(),"
            " updated_at = now() where id = $1",
            document_id,
            sha256,
            size_bytes,
            page_count,
            len(chunks),
            version,
            content_type,
            [w[:1000] for w in warnings][:50],
            object_version,
        )
        return None


async def _insert_chunks(
    conn: asyncpg.Connection,
    *,
    tenant_id: str,
    document_id: uuid.UUID,
    chunks: Sequence[ChunkRow],
) -> None:
    """One ``INSERT ... SELECT FROM unnest(...)`` of every chunk, building the tsvectors.

    One statement with one array per column: no temporary table, whose creation and drop
    cost a relation file, catalog rows and a fresh plan per document (measured: 3 ms of
    database CPU a one-page document, docs/benchmarks.md §7). Vectors go as
    :class:`pgvector.Vector` so that asyncpg encodes ``vector[]`` elements whole instead of
    taking an ndarray for a nested array. Each chunk takes its document's ``access`` from
    the database (trigger ``chunks_access_from_document``); the document row is locked by
    the claim check.
    """
    words = [keyword_text(chunk.text) for chunk in chunks]
    await conn.execute(
        "insert into chunks (id, tenant_id, document_id, ordinal, page_start, page_end, text,"
        " content_sha256, embedding, keywords)"
        " select s.id, $1, $2, s.ordinal, s.page_start, s.page_end, s.text, s.content_sha256,"
        f" s.embedding, {tsvector_sql('s.latin', 's.cjk')}"
        " from unnest($3::uuid[], $4::int[], $5::int[], $6::int[], $7::text[], $8::text[],"
        " $9::vector[], $10::text[], $11::text[])"
        " as s (id, ordinal, page_start, page_end, text, content_sha256, embedding, latin, cjk)",
        tenant_id,
        document_id,
        [uuid.uuid4() for _ in chunks],
        [chunk.ordinal for chunk in chunks],
        [chunk.page_start for chunk in chunks],
        [chunk.page_end for chunk in chunks],
        [chunk.text for chunk in chunks],
        [chunk.content_sha256 for chunk in chunks],
        [Vector(chunk.embedding) for chunk in chunks],
        [w.latin for w in words],
        [w.cjk for w in words],
        timeout=WRITE_TIMEOUT_S,
    )


async def reap_stale_documents(
    pool: asyncpg.Pool, *, lease: timedelta, max_attempts: int
) -> list[asyncpg.Record]:
    """Documents whose worker died: back to queued, or failed after the last attempt."""
    async with pool.acquire() as conn:
        rows: list[asyncpg.Record] = await conn.fetch(
            "select * from docpipe_reap_stale_documents($1, $2)", lease, max_attempts
        )
        return rows
