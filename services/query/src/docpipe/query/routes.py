"""HTTP endpoints of the query service (docs/api.md): validate, delegate, shape."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from docpipe.common.exceptions import ProblemError
from docpipe.common.openapi import problem_responses
from docpipe.query import conversations
from docpipe.query.answer import Answer, PreparedTurn, answer_turn, prepare_turn
from docpipe.query.deps import (
    AnswererDep,
    CallerDep,
    PoolDep,
    PrincipalDep,
    RetrieverDep,
    RewriterDep,
    SettingsDep,
)
from docpipe.query.exceptions import FilterError, InvalidCursor
from docpipe.query.hits import Hit
from docpipe.query.schemas import (
    AnswerRequest,
    AnswerResponse,
    Citation,
    ConversationDetail,
    ConversationPage,
    ConversationSummary,
    Health,
    Message,
    SearchRequest,
    SearchResponse,
    SearchResult,
    SourcesEvent,
    StreamedSource,
)
from docpipe.query.scope import DocumentScope
from docpipe.query.sse import STREAM_HEADERS, answer_events

__all__ = ["router"]

router = APIRouter()

_STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `stream: true` server-sent events: `sources`, then"
        " `delta` ({text}) as the model writes, then `done` (this JSON object), or `error`"
        " (problem+json) when the answer fails after the stream began",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _check_query(query: str, settings: SettingsDep) -> str:
    if len(query) > settings.max_query_chars:
        msg = f"at most {settings.max_query_chars} characters are allowed (got {len(query)})"
        raise ProblemError(
            422,
            f"query: {msg}",
            errors=[{"loc": ["body", "query"], "msg": msg, "type": "string_too_long"}],
        )
    return query.strip()


def _scope(
    document_ids: Sequence[uuid.UUID] | None, filters: dict[str, Any] | None
) -> DocumentScope:
    try:
        return DocumentScope.of(document_ids=document_ids, filters=filters)
    except FilterError as exc:
        loc = ["body", "filters", exc.field]
        raise ProblemError(
            422, str(exc), errors=[{"loc": loc, "msg": str(exc), "type": "invalid_filter"}]
        ) from exc


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


def _citation(hit: Hit) -> Citation:
    return Citation(
        document_id=hit.document_id,
        filename=hit.filename,
        page_start=hit.page_start,
        page_end=hit.page_end,
        chunk_id=hit.chunk_id,
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
    body: SearchRequest, settings: SettingsDep, reader: PrincipalDep, retriever: RetrieverDep
) -> SearchResponse:
    """The chunks most relevant to the query among the documents the caller sees: hybrid,
    vector or keyword ranking."""
    started = time.perf_counter()
    outcome = await retriever.search(
        reader=reader,
        query=_check_query(body.query, settings),
        mode=body.mode,
        top_k=body.top_k,
        scope=_scope(body.document_ids, body.filters),
    )
    return SearchResponse(
        results=[_result(hit) for hit in outcome.hits],
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def _answer_response(turn: PreparedTurn, answer: Answer) -> AnswerResponse:
    return AnswerResponse(
        answer=answer.text,
        citations=[_citation(h) for h in answer.cited],
        model=answer.model,
        conversation_id=turn.conversation_id,
        message_id=turn.message_id,
        standalone_query=turn.standalone_query,
    )


def _sources_event(turn: PreparedTurn) -> SourcesEvent:
    return SourcesEvent(
        conversation_id=turn.conversation_id,
        message_id=turn.message_id,
        standalone_query=turn.standalone_query,
        sources=[
            StreamedSource(n=n, **_citation(hit).model_dump())
            for n, hit in enumerate(turn.sources, start=1)
        ],
    )


@router.post(
    "/v1/answer",
    response_model=AnswerResponse,
    tags=["retrieval"],
    responses={**_STREAM_RESPONSE, **problem_responses(401, 404, 422, 502, 503)},
)
async def answer(
    body: AnswerRequest,
    request: Request,
    settings: SettingsDep,
    caller: CallerDep,
    pool: PoolDep,
    retriever: RetrieverDep,
    rewriter: RewriterDep,
    answerer: AnswererDep,
) -> Response:
    """An answer grounded in the caller's documents, citing the chunks it used; a turn of a
    conversation (a new one unless `conversation_id` names one of the caller's)."""
    turn = await prepare_turn(
        pool=pool,
        retriever=retriever,
        rewriter=rewriter,
        caller=caller,
        question=_check_query(body.query, settings),
        top_k=body.top_k,
        scope=_scope(body.document_ids, body.filters),
        conversation_id=body.conversation_id,
        min_similarity=settings.answer_min_similarity,
    )
    if body.stream:
        events = answer_events(
            pool=pool,
            turn=turn,
            answerer=answerer,
            sources=_sources_event(turn),
            done=lambda result: _answer_response(turn, result),
            state=request.scope.setdefault("state", {}),
        )
        return StreamingResponse(events, media_type="text/event-stream", headers=STREAM_HEADERS)
    result = await answer_turn(pool=pool, turn=turn, answerer=answerer)
    return Response(_answer_response(turn, result).model_dump_json(), media_type="application/json")


@router.get(
    "/v1/conversations",
    response_model=ConversationPage,
    tags=["conversations"],
    responses=problem_responses(400, 401, 422, 503),
)
async def list_conversations(
    caller: CallerDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> ConversationPage:
    """The caller's own conversations, most recently active first."""
    try:
        after = conversations.decode_cursor(cursor) if cursor else None
    except InvalidCursor as exc:
        raise ProblemError(400, str(exc)) from exc
    async with conversations.caller_transaction(pool, caller, readonly=True) as conn:
        rows = await conversations.list_conversations(conn, limit=limit + 1, after=after)
    page = rows[:limit]
    next_cursor = (
        conversations.encode_cursor(page[-1]["updated_at"], page[-1]["id"])
        if len(rows) > limit
        else None
    )
    return ConversationPage(
        conversations=[ConversationSummary(**dict(r)) for r in page], next_cursor=next_cursor
    )


@router.get(
    "/v1/conversations/{conversation_id}",
    response_model=ConversationDetail,
    tags=["conversations"],
    responses=problem_responses(401, 404, 422, 503),
)
async def get_conversation(
    conversation_id: uuid.UUID, caller: CallerDep, pool: PoolDep
) -> ConversationDetail:
    """The conversation's messages in order (citations of documents still visible)."""
    async with conversations.caller_transaction(pool, caller, readonly=True) as conn:
        found = await conversations.get_conversation(
            conn, caller=caller, conversation_id=conversation_id
        )
    if found is None:
        raise ProblemError(404, f"no conversation {conversation_id}")
    head, messages = found
    return ConversationDetail(
        id=head["id"],
        title=head["title"],
        created_at=head["created_at"],
        messages=[Message(**m) for m in messages],
    )


@router.delete(
    "/v1/conversations/{conversation_id}",
    status_code=204,
    response_class=Response,
    tags=["conversations"],
    responses=problem_responses(401, 404, 422, 503),
)
async def delete_conversation(
    conversation_id: uuid.UUID, caller: CallerDep, pool: PoolDep
) -> Response:
    async with conversations.caller_transaction(pool, caller) as conn:
        deleted = await conversations.delete_conversation(conn, conversation_id=conversation_id)
    if not deleted:
        raise ProblemError(404, f"no conversation {conversation_id}")
    return Response(status_code=204)
