"""Injectables: settings, the caller's tenant, the retriever and the answerer."""

from __future__ import annotations

from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from docpipe.common.auth import Principal
from docpipe.common.db import get_pool
from docpipe.common.web import ProblemError, principal_from_request
from docpipe.query.answer import Answerer
from docpipe.query.config import QuerySettings
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.search import Retriever
from docpipe.query.vector import VectorPlanner

__all__ = ["AnswererDep", "RetrieverDep", "SettingsDep", "TenantDep"]


def get_settings(request: Request) -> QuerySettings:
    return cast(QuerySettings, request.app.state.settings)


SettingsDep = Annotated[QuerySettings, Depends(get_settings)]


def current_principal(request: Request, settings: SettingsDep) -> Principal:
    return principal_from_request(request, settings)


def current_tenant(principal: Annotated[Principal, Depends(current_principal)]) -> str:
    return principal.tenant_id


TenantDep = Annotated[str, Depends(current_tenant)]


async def database_pool(settings: SettingsDep, _: TenantDep) -> asyncpg.Pool:
    """The pool (after authentication: an anonymous caller never touches the database)."""
    try:
        return await get_pool(settings)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProblemError(503, "the database is unavailable; retry later") from exc


def get_retriever(
    request: Request,
    settings: SettingsDep,
    pool: Annotated[asyncpg.Pool, Depends(database_pool)],
) -> Retriever:
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
        vector_weight=settings.vector_weight,
        candidates_per_leg=settings.candidates_per_leg,
    )


RetrieverDep = Annotated[Retriever, Depends(get_retriever)]


def get_answerer(request: Request) -> Answerer:
    return cast(Answerer, request.app.state.answerer)


AnswererDep = Annotated[Answerer, Depends(get_answerer)]
