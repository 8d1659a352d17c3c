"""One search: embed the query (vector and hybrid modes), run the legs, fuse.

Each leg runs in its own read-only tenant transaction; a hybrid search runs the two at
the same time on two pooled connections (the vector leg starting with the query's
embedding), so its latency is the slower leg's rather than the sum.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from docpipe.common.db import tenant_transaction
from docpipe.query.config import FusionMethod
from docpipe.query.fusion import reciprocal_rank_fusion, weighted_fusion
from docpipe.query.hits import Hit
from docpipe.query.keyword import BM25, keyword_search
from docpipe.query.pgvector_support import vector_support
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.schemas import SearchMode
from docpipe.query.scope import DocumentScope
from docpipe.query.vector import VectorPlanner, vector_search

__all__ = ["Retriever", "SearchOutcome"]


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[Hit]
    vector_plan: str | None = None


@dataclass
class Retriever:
    """Everything a search needs besides the request: the pool, embeddings and tuning."""

    pool: asyncpg.Pool
    embeddings: QueryEmbeddings
    planner: VectorPlanner
    fusion: FusionMethod = "weighted"
    rrf_k: int = 60
    vector_weight: float = 0.6
    candidates_per_leg: int = 50
    keyword_ranking: BM25 = BM25()

    async def search(
        self,
        *,
        tenant_id: str,
        query: str,
        mode: SearchMode,
        top_k: int,
        scope: DocumentScope | None = None,
        fusion: FusionMethod | None = None,
    ) -> SearchOutcome:
        if mode == "keyword":
            return SearchOutcome(await self._keyword_leg(tenant_id, query, top_k, scope))
        if mode == "vector":
            plan, hits = await self._vector_leg(tenant_id, query, top_k, scope)
            return SearchOutcome(hits, plan)
        # Hybrid: the legs (the vector one including its query embedding, a Bedrock call
        # in production) overlap on two pooled connections instead of adding up. Neither
        # holds a connection while waiting for the other, so a busy pool cannot deadlock.
        leg_limit = max(top_k, self.candidates_per_leg)
        legs = (
            asyncio.ensure_future(self._keyword_leg(tenant_id, query, leg_limit, scope)),
            asyncio.ensure_future(self._vector_leg(tenant_id, query, leg_limit, scope)),
        )
        try:
            keyword_hits, (plan, vector_hits) = await asyncio.gather(*legs)
        except BaseException:
            for leg in legs:  # the first failure answers the request; stop the other leg
                leg.cancel()
            raise
        return SearchOutcome(self._fuse(vector_hits, keyword_hits, top_k, fusion), plan)

    async def _keyword_leg(
        self, tenant_id: str, query: str, limit: int, scope: DocumentScope | None
    ) -> list[Hit]:
        async with tenant_transaction(self.pool, tenant_id, readonly=True) as conn:
            return await keyword_search(
                conn, query=query, limit=limit, scope=scope, bm25=self.keyword_ranking
            )

    async def _vector_leg(
        self, tenant_id: str, query: str, limit: int, scope: DocumentScope | None
    ) -> tuple[str, list[Hit]]:
        vector = await self.embeddings.embed(query)
        async with tenant_transaction(self.pool, tenant_id, readonly=True) as conn:
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
        self, vector: list[Hit], keyword: list[Hit], top_k: int, fusion: FusionMethod | None
    ) -> list[Hit]:
        if (fusion or self.fusion) == "weighted":
            return weighted_fusion(vector, keyword, limit=top_k, vector_weight=self.vector_weight)
        return reciprocal_rank_fusion(vector, keyword, limit=top_k, k=self.rrf_k)
