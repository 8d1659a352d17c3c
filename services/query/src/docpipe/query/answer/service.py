"""The answer flow of one turn: find the conversation, rewrite a follow-up into a standalone
query, retrieve, keep the relevant chunks, then answer from them (whole or streamed) or say
nothing relevant was found (without calling the model), and record the turn.

:func:`prepare_turn` does everything up to generation, so a streamed answer can send its
sources as soon as retrieval is done; :func:`answer_turn` and :func:`stream_turn` generate,
sanitize (:mod:`docpipe.query.answer.sanitize`) and record.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import asyncpg

from docpipe.query.answer.language import detect_script
from docpipe.query.answer.rewrite import Rewriter
from docpipe.query.answer.sanitize import AnswerSanitizer, sanitize, urls_in
from docpipe.query.answer.sources import cited_sources
from docpipe.query.answer.types import Answer, Answerer
from docpipe.query.conversations import (
    Caller,
    caller_transaction,
    conversation_exists,
    recent_turns,
    record_turn,
)
from docpipe.query.exceptions import ConversationNotFound
from docpipe.query.hits import Hit
from docpipe.query.scope import DocumentScope
from docpipe.query.search import Retriever

__all__ = [
    "NOTHING_FOUND",
    "NO_MODEL",
    "PreparedTurn",
    "answer_turn",
    "nothing_found",
    "prepare_turn",
    "relevant_hits",
    "stream_turn",
]

NOTHING_FOUND = (
    "I could not find anything relevant to this question in your documents, so I cannot"
    " answer it from them."
)
_NOTHING_FOUND = {
    "zh-Hant": "在您的文件中找不到與這個問題相關的內容，因此無法根據文件回答。",
    "zh-Hans": "在您的文件中找不到与这个问题相关的内容，因此无法根据文件回答。",
}
NO_MODEL = "none"
HISTORY_TURNS = 6


def nothing_found(question: str) -> str:
    return _NOTHING_FOUND.get(detect_script(question), NOTHING_FOUND)


def relevant_hits(hits: Sequence[Hit], *, min_similarity: float) -> list[Hit]:
    """Chunks that contain a query term, or are semantically close enough to the query."""
    return [
        hit
        for hit in hits
        if hit.keyword_score is not None
        or (hit.similarity is not None and hit.similarity >= min_similarity)
    ]


@dataclass(frozen=True)
class PreparedTurn:
    """Everything decided before generation; ids are fixed here so a stream can name them."""

    caller: Caller
    conversation_id: uuid.UUID
    question: str
    standalone_query: str
    sources: list[Hit]
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    user_message_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def allowed_urls(self) -> frozenset[str]:
        return urls_in(hit.text for hit in self.sources)


async def prepare_turn(
    *,
    pool: asyncpg.Pool,
    retriever: Retriever,
    rewriter: Rewriter,
    caller: Caller,
    question: str,
    top_k: int,
    scope: DocumentScope,
    conversation_id: uuid.UUID | None,
    min_similarity: float,
) -> PreparedTurn:
    history = []
    if conversation_id is not None:
        async with caller_transaction(pool, caller, readonly=True) as conn:
            if not await conversation_exists(conn, conversation_id=conversation_id):
                raise ConversationNotFound(f"no conversation {conversation_id}")
            history = await recent_turns(conn, conversation_id=conversation_id, limit=HISTORY_TURNS)
    standalone = await rewriter.rewrite(question=question, history=history)
    outcome = await retriever.search(
        reader=caller.principal, query=standalone, mode="hybrid", top_k=top_k, scope=scope
    )
    return PreparedTurn(
        caller=caller,
        conversation_id=conversation_id or uuid.uuid4(),
        question=question,
        standalone_query=standalone,
        sources=relevant_hits(outcome.hits, min_similarity=min_similarity),
    )


async def _record(pool: asyncpg.Pool, turn: PreparedTurn, answer: Answer) -> None:
    citations = [
        {
            "document_id": str(h.document_id),
            "filename": h.filename,
            "page_start": h.page_start,
            "page_end": h.page_end,
            "chunk_id": str(h.chunk_id),
        }
        for h in answer.cited
    ]
    async with caller_transaction(pool, turn.caller) as conn:
        await record_turn(
            conn,
            caller=turn.caller,
            conversation_id=turn.conversation_id,
            question=turn.question,
            standalone_query=turn.standalone_query,
            answer=answer.text,
            citations=citations,
            model=answer.model,
            user_message_id=turn.user_message_id,
            assistant_message_id=turn.message_id,
        )


def _final(turn: PreparedTurn, text: str, model: str) -> Answer:
    return Answer(text=text, cited=cited_sources(text, turn.sources), model=model)


async def answer_turn(*, pool: asyncpg.Pool, turn: PreparedTurn, answerer: Answerer) -> Answer:
    """The whole answer, sanitized and recorded."""
    if not turn.sources:
        answer = Answer(text=nothing_found(turn.question), cited=[], model=NO_MODEL)
    else:
        raw = await answerer.answer(question=turn.standalone_query, sources=turn.sources)
        answer = _final(turn, sanitize(raw.text, allowed=turn.allowed_urls), raw.model)
    await _record(pool, turn, answer)
    return answer


async def stream_turn(
    *, pool: asyncpg.Pool, turn: PreparedTurn, answerer: Answerer
) -> AsyncIterator[str | Answer]:
    """Sanitized text deltas as the model produces them, then the recorded :class:`Answer`
    (whose text is exactly the deltas concatenated)."""
    parts: list[str] = []
    if not turn.sources:
        parts.append(nothing_found(turn.question))
        yield parts[0]
        model = NO_MODEL
    else:
        sanitizer = AnswerSanitizer(allowed=turn.allowed_urls)
        async for delta in answerer.stream(question=turn.standalone_query, sources=turn.sources):
            safe = sanitizer.feed(delta)
            if safe:
                parts.append(safe)
                yield safe
        tail = sanitizer.finish()
        if tail:
            parts.append(tail)
            yield tail
        model = answerer.model
    answer = (
        _final(turn, "".join(parts), model)
        if turn.sources
        else Answer(text=parts[0], cited=[], model=model)
    )
    await _record(pool, turn, answer)
    yield answer
