"""A document's chunk embeddings, by content hash: the tenant's cached ones reused, the rest
embedded in groups (``EMBEDDING_GROUP_SIZE``) and each group cached as soon as it returns,
so a retried document pays only for what it has not embedded yet. An embedder cheaper to
run than the cache (``Embedder.cache_embeddings`` false: the local hashing one) skips it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np

from docpipe.common.embeddings import Embedder
from docpipe.processor import document_rows
from docpipe.processor.chunking import Chunk

__all__ = ["EmbeddedChunks", "embed_chunks"]


@dataclass(frozen=True)
class EmbeddedChunks:
    #: content hash -> vector, for every chunk
    vectors: dict[str, np.ndarray]
    cache_hits: int
    #: provider calls made (a group may take several)
    calls: int
    embedded_texts: int


async def embed_chunks(
    pool: asyncpg.Pool,
    *,
    tenant_id: str,
    embedder: Embedder,
    chunks: Sequence[Chunk],
    group_size: int,
) -> EmbeddedChunks:
    hashes = list(dict.fromkeys(c.content_sha256 for c in chunks))
    cache = embedder.cache_embeddings
    vectors = (
        await document_rows.cached_embeddings(
            pool, tenant_id=tenant_id, model_id=embedder.model_id, hashes=hashes
        )
        if cache
        else {}
    )
    cache_hits = len(vectors)
    text_of = {c.content_sha256: c.text for c in chunks}
    missing = [h for h in hashes if h not in vectors]
    calls_before = embedder.stats.calls
    for start in range(0, len(missing), group_size):
        batch = missing[start : start + group_size]
        embedded = await embedder.embed([text_of[h] for h in batch], input_type="search_document")
        fresh = dict(zip(batch, embedded, strict=True))
        if cache:
            await document_rows.store_embeddings(
                pool, tenant_id=tenant_id, model_id=embedder.model_id, embeddings=fresh
            )
        vectors.update({h: np.asarray(v, dtype=np.float32) for h, v in fresh.items()})
    return EmbeddedChunks(
        vectors=vectors,
        cache_hits=cache_hits,
        calls=embedder.stats.calls - calls_before,
        embedded_texts=len(missing),
    )
