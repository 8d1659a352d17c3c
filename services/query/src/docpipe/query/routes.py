"""HTTP endpoints of the query service (ARCHITECTURE §4): validate, delegate, shape."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from fastapi import APIRouter

from docpipe.common.openapi import problem_responses
from docpipe.common.web import ProblemError
from docpipe.query.answer import answer_question
from docpipe.query.deps import AnswererDep, RetrieverDep, SettingsDep, TenantDep
from docpipe.query.hits import Hit
from docpipe.query.schemas import (
    AnswerRequest,
    AnswerResponse,
    Citation,
    Health,
    SearchRequest,
    SearchResponse,
    SearchResult,
)

__all__ = ["router"]

router = APIRouter()


def _check_query(query: str, settings: SettingsDep) -> str:
    if len(query) > settings.max_query_chars:
        msg = f"at most {settings.max_query_chars} characters are allowed (got {len(query)})"
        raise ProblemError(
            422,
            f"query: {msg}",
            errors=[{"loc": ["body", "query"], "msg": msg, "type": "string_too_long"}],
        )
    return query.strip()


def _unique(ids: Sequence[uuid.UUID] | None) -> list[uuid.UUID] | None:
    return list(dict.fromkeys(ids)) if ids else None


def _result(hit: Hit) -> SearchResult:
    return SearchResult(
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        filename=hit.filename,
        page_start=hit.page_start,
        page_end=hit.page_end,
        text=hit.text,
        score=round(hit.score, 6),
    )


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    return Health(status="ok")


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    tags=["retrieval"],
    responses=problem_responses(401, 422, 503),
)
async def search(
    body: SearchRequest, settings: SettingsDep, tenant: TenantDep, retriever: RetrieverDep
) -> SearchResponse:
    """The caller's chunks most relevant to the query: hybrid, vector or keyword ranking."""
    started = time.perf_counter()
    outcome = await retriever.search(
        tenant_id=tenant,
        query=_check_query(body.query, settings),
        mode=body.mode,
        top_k=body.top_k,
        document_ids=_unique(body.document_ids),
    )
    return SearchResponse(
        results=[_result(hit) for hit in outcome.hits],
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )


@router.post(
    "/v1/answer",
    response_model=AnswerResponse,
    tags=["retrieval"],
    responses=problem_responses(401, 422, 502, 503),
)
async def answer(
    body: AnswerRequest,
    settings: SettingsDep,
    tenant: TenantDep,
    retriever: RetrieverDep,
    answerer: AnswererDep,
) -> AnswerResponse:
    """An answer grounded in the caller's documents, citing the chunks it used."""
    result = await answer_question(
        retriever=retriever,
        answerer=answerer,
        tenant_id=tenant,
        question=_check_query(body.query, settings),
        top_k=body.top_k,
        document_ids=_unique(body.document_ids),
        min_similarity=settings.answer_min_similarity,
    )
    return AnswerResponse(
        answer=result.text,
        citations=[
            Citation(
                document_id=h.document_id,
                filename=h.filename,
                page_start=h.page_start,
                page_end=h.page_end,
                chunk_id=h.chunk_id,
            )
            for h in result.cited
        ],
        model=result.model,
    )
