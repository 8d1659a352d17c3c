"""One search: embed the query (vector and hybrid modes), run the legs, fuse.

Each leg runs in its own read-only tenant transaction; a hybrid search runs the two at
the same time on two pooled connections (the vector leg starting with the query's
embedding), so its latency is the slower leg's rather than the sum.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from docpipe.common.auth import Principal
from docpipe.common.db import tenant_transaction
from docpipe.query.config import FusionMethod
from docpipe.query.fusion import complete_fusion, reciprocal_rank_fusion, weighted_fusion
from docpipe.query.fusion_defaults import vector_weight_for
from docpipe.query.hits import Hit
from docpipe.query.keyword import BM25, keyword_scores, keyword_search
from docpipe.query.pgvector_support import vector_support
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.schemas import SearchMode
from docpipe.query.scope import DocumentScope
from docpipe.query.vector import VectorPlanner, vector_scores, vector_search

__all__ = ["Retriever", "SearchOutcome"]


async def _together(*tasks: asyncio.Future[Any]) -> list[Any]:
    """Both results; the first failure answers the request and stops the other task."""
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[Hit]


@dataclass
class Retriever:
    """Everything a search needs besides the request: the pool, embeddings and tuning."""

    pool: asyncpg.Pool
    embeddings: QueryEmbeddings
    planner: VectorPlanner
    fusion: FusionMethod = "complete"
    rrf_k: int = 60
    vector_weight: float = 0.5
    vector_covers_cjk: bool = True
    candidates_per_leg: int = 50
    fusion_scale: str = "absolute"
    keyword_ranking: BM25 = BM25()

    async def search(
        self,
        *,
        reader: Principal | str,
        query: str,
        mode: SearchMode,
        top_k: int,
        scope: DocumentScope | None = None,
        fusion: FusionMethod | None = None,
    ) -> SearchOutcome:
        """The reader's best chunks. ``reader``: the caller (its tenant, groups, admin);
        a bare tenant id reads the tenant's open documents only."""
        if isinstance(reader, str):
            reader = Principal(tenant_id=reader, subject=None)
        scope = (scope or DocumentScope()).seen_by(reader)
        if mode == "keyword":
            return SearchOutcome(await self._keyword_leg(reader, query, top_k, scope))
        if mode == "vector":
            _, hits = await self._vector_leg(reader, query, top_k, scope)
            return SearchOutcome(hits)
        # Hybrid: the legs (the vector one including its query embedding, a Bedrock call
        # in production) overlap on two pooled connections instead of adding up. Neither
        # holds a connection while waiting for the other, so a busy pool cannot deadlock.
        leg_limit = max(top_k, self.candidates_per_leg)
        legs = (
            asyncio.ensure_future(self._keyword_leg(reader, query, leg_limit, scope)),
            asyncio.ensure_future(self._vector_leg(reader, query, leg_limit, scope)),
        )
        keyword_hits, (_, vector_hits) = await _together(*legs)
        method = fusion or self.fusion
        weight = vector_weight_for(
            query, weight=self.vector_weight, covers_cjk=self.vector_covers_cjk
        )
        if method == "complete":
            fused = await self._complete(
                reader, query, scope, vector_hits, keyword_hits, top_k, weight
            )
            return SearchOutcome(fused)
        return SearchOutcome(self._fuse(vector_hits, keyword_hits, top_k, method, weight))

    async def _complete(
        self,
        reader: Principal,
        query: str,
        scope: DocumentScope,
        vector: list[Hit],
        keyword: list[Hit],
        top_k: int,
        weight: float,
    ) -> list[Hit]:
        """Score-complete fusion: the scores each leg did not return are computed (both
        lookups at once, by primary key over at most ``candidates_per_leg`` chunks)."""
        hits = {h.chunk_id: h for h in [*keyword, *vector]}
        similarity = {h.chunk_id: h.score for h in vector}
        bm25 = {h.chunk_id: h.score for h in keyword}
        missing_vector = [i for i in hits if i not in similarity]
        missing_keyword = [i for i in hits if i not in bm25]
        extra_similarity, extra_bm25 = await _together(
            asyncio.ensure_future(self._similarities(reader, query, scope, missing_vector)),
            asyncio.ensure_future(self._keyword_scores(reader, query, scope, missing_keyword)),
        )
        return complete_fusion(
            hits,
            similarity=similarity | extra_similarity,
            keyword=bm25 | extra_bm25,
            limit=top_k,
            vector_weight=weight,
            scale=self.fusion_scale,
        )

    async def _similarities(
        self, reader: Principal, query: str, scope: DocumentScope, chunk_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, float]:
        if not chunk_ids:
            return {}
        vector = await self.embeddings.embed(
            query, tenant_id=reader.tenant_id, subject=reader.subject
        )
        async with tenant_transaction(self.pool, reader, readonly=True) as conn:
            return await vector_scores(conn, vector=vector, chunk_ids=chunk_ids, scope=scope)

    async def _keyword_scores(
        self, reader: Principal, query: str, scope: DocumentScope, chunk_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, float]:
        if not chunk_ids:
            return {}
        async with tenant_transaction(self.pool, reader, readonly=True) as conn:
            return await keyword_scores(
                conn, query=query, chunk_ids=chunk_ids, bm25=self.keyword_ranking, scope=scope
            )

    async def _keyword_leg(
        self, reader: Principal, query: str, limit: int, scope: DocumentScope
    ) -> list[Hit]:
        async with tenant_transaction(self.pool, reader, readonly=True) as conn:
            return await keyword_search(
                conn, query=query, limit=limit, scope=scope, bm25=self.keyword_ranking
            )

    async def _vector_leg(
        self, reader: Principal, query: str, limit: int, scope: DocumentScope
    ) -> tuple[str, list[Hit]]:
        vector = await self.embeddings.embed(
            query, tenant_id=reader.tenant_id, subject=reader.subject
        )
        async with tenant_transaction(self.pool, reader, readonly=True) as conn:
            support = await vector_support(conn, pool=self.pool)
            return await vector_search(
                conn,
                vector=vector,
                limit=limit,
                scope=scope,
                support=support,
                planner=self.planner,
            )

    def _fuse(
        self, vector: list[Hit], keyword: list[Hit], top_k: int, fusion: FusionMethod, weight: float
    ) -> list[Hit]:
        if fusion == "weighted":
            return weighted_fusion(vector, keyword, limit=top_k, vector_weight=weight)
        return reciprocal_rank_fusion(vector, keyword, limit=top_k, k=self.rrf_k)
