"""Seeding completed documents and their chunks straight into Postgres, for retrieval tests.

Rows are written the way the processor writes them (same tokenizer, same tsvector SQL,
unit vectors from a real embedder), but without S3 and extraction, so a test can create
thousands of chunks in a second. End-to-end tests use the upload API and the processor.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np

from docpipe.common.embeddings import Embedder
from docpipe.common.keywords import keyword_text, tsvector_sql

__all__ = ["SeededDocument", "seed_document"]


@dataclass(frozen=True)
class SeededDocument:
    id: uuid.UUID
    filename: str
    chunk_ids: list[uuid.UUID]


async def seed_document(
    admin: asyncpg.Connection,
    *,
    tenant: str,
    texts: Sequence[str],
    embedder: Embedder | None = None,
    vectors: Sequence[Sequence[float]] | None = None,
    filename: str = "doc.txt",
) -> SeededDocument:
    """A ``completed`` document of ``tenant`` with one chunk per text (page = index + 1).

    ``admin`` is a superuser connection (it writes any tenant's rows).
    """
    if vectors is None:
        assert embedder is not None, "pass an embedder or the vectors"
        vectors = await embedder.embed(list(texts), input_type="search_document")
    doc_id = uuid.uuid4()
    digest = hashlib.sha256(f"{doc_id}".encode()).hexdigest()
    await admin.execute(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, sha256,"
        " storage_key, status, page_count, chunk_count, processed_at)"
        " values ($1, $2, $3, 'text/plain', $4, $5, $6, 'completed', $7, $7, now())",
        doc_id,
        tenant,
        filename,
        sum(len(t) for t in texts),
        digest,
        f"uploads/test/{doc_id}",
        len(texts),
    )
    chunk_ids = [uuid.uuid4() for _ in texts]
    records = []
    for ordinal, (chunk_id, text, vector) in enumerate(zip(chunk_ids, texts, vectors, strict=True)):
        words = keyword_text(text)
        records.append(
            (
                chunk_id,
                tenant,
                doc_id,
                ordinal,
                ordinal + 1,
                ordinal + 1,
                text,
                hashlib.sha256(text.encode()).hexdigest(),
                np.asarray(vector, dtype=np.float32),
                words.latin,
                words.cjk,
            )
        )
    await admin.executemany(
        "insert into chunks (id, tenant_id, document_id, ordinal, page_start, page_end, text,"
        f" content_sha256, embedding, keywords) values ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        f" {tsvector_sql('$10', '$11')})",
        records,
    )
    return SeededDocument(id=doc_id, filename=filename, chunk_ids=chunk_ids)
