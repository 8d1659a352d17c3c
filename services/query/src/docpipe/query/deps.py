"""Injectables: settings, the caller's tenant, the retriever and the answerer."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from docpipe.common.deps import PoolDep, PrincipalDep, TenantDep
from docpipe.common.exceptions import AuthError
from docpipe.query.answer import Answerer, Rewriter
from docpipe.query.config import QuerySettings
from docpipe.query.conversations import Caller
from docpipe.query.fusion_defaults import embedder_profile
from docpipe.query.keyword import BM25
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.search import Retriever
from docpipe.query.vector import VectorPlanner

__all__ = [
    "AnswererDep",
    "CallerDep",
    "PoolDep",
    "PrincipalDep",
    "RetrieverDep",
    "RewriterDep",
    "SettingsDep",
    "TenantDep",
]


async def get_settings(request: Request) -> QuerySettings:
    return cast(QuerySettings, request.app.state.settings)


SettingsDep = Annotated[QuerySettings, Depends(get_settings)]


async def get_retriever(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
) -> Retriever:
    weights = embedder_profile(
        provider=settings.embedding_provider, model_id=settings.embedding_model_id
    )
    return Retriever(
        pool=pool,
        embeddings=cast(QueryEmbeddings, request.app.state.query_embeddings),
        planner=VectorPlanner(
            ef_search=settings.ef_search,
            filtered_ef_search=settings.filtered_ef_search,
            exact_max_rows=settings.exact_search_max_rows,
        ),
        fusion=settings.fusion,
        rrf_k=settings.rrf_k,
        vector_weight=weights.vector_weight
        if settings.vector_weight is None
        else settings.vector_weight,
        vector_covers_cjk=weights.covers_cjk,
        candidates_per_leg=settings.candidates_per_leg,
        fusion_scale=settings.fusion_scale,
        keyword_ranking=BM25(candidate_budget=settings.keyword_candidate_budget),
    )


RetrieverDep = Annotated[Retriever, Depends(get_retriever)]


async def get_answerer(request: Request) -> Answerer:
    return cast(Answerer, request.app.state.answerer)


AnswererDep = Annotated[Answerer, Depends(get_answerer)]


async def get_rewriter(request: Request) -> Rewriter:
    return cast(Rewriter, request.app.state.rewriter)


RewriterDep = Annotated[Rewriter, Depends(get_rewriter)]


async def current_caller(principal: PrincipalDep) -> Caller:
    """Conversations belong to a user: the token must name one (``sub``)."""
    if not principal.subject:
        raise AuthError("the token has no 'sub' claim; conversations belong to a user")
    return Caller(principal=principal)


CallerDep = Annotated[Caller, Depends(current_caller)]
