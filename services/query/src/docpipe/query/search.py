"""One search: embed the query (vector and hybrid modes), run the legs inside the caller's
tenant transaction, fuse."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from docpipe.common.db import tenant_transaction
from docpipe.query.config import FusionMethod
from docpipe.query.fusion import reciprocal_rank_fusion, weighted_fusion
from docpipe.query.hits import Hit
from docpipe.query.keyword import keyword_search
from docpipe.query.pgvector_support import vector_support
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.schemas import SearchMode
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

    async def search(
        self,
        *,
        tenant_id: str,
        query: str,
        mode: SearchMode,
        top_k: int,
        document_ids: Sequence[uuid.UUID] | None = None,
        fusion: FusionMethod | None = None,
    ) -> SearchOutcome:
        vector = await self.embeddings.embed(query) if mode != "keyword" else None
        leg_limit = top_k if mode != "hybrid" else max(top_k, self.candidates_per_leg)
        vector_hits: list[Hit] = []
        keyword_hits: list[Hit] = []
        plan = None
        async with tenant_transaction(self.pool, tenant_id, readonly=True) as conn:
            if mode != "vector":
                keyword_hits = await keyword_search(
                    conn, query=query, limit=leg_limit, document_ids=document_ids
                )
            if vector is not None:
                support = await vector_support(conn, pool=self.pool)
                plan, vector_hits = await vector_search(
                    conn,
                    vector=vector,
                    limit=leg_limit,
                    document_ids=document_ids,
                    support=support,
                    planner=self.planner,
                )
        if mode == "vector":
            return SearchOutcome(vector_hits, plan)
        if mode == "keyword":
            return SearchOutcome(keyword_hits)
        return SearchOutcome(self._fuse(vector_hits, keyword_hits, top_k, fusion), plan)

    def _fuse(
        self, vector: list[Hit], keyword: list[Hit], top_k: int, fusion: FusionMethod | None
    ) -> list[Hit]:
        if (fusion or self.fusion) == "weighted":
            return weighted_fusion(vector, keyword, limit=top_k, vector_weight=self.vector_weight)
        return reciprocal_rank_fusion(vector, keyword, limit=top_k, k=self.rrf_k)
