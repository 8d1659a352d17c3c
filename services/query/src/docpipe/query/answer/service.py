"""The answer flow: retrieve, keep the relevant chunks, answer from them or say nothing
relevant was found (without calling the model)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from docpipe.query.answer.types import Answer, Answerer
from docpipe.query.hits import Hit
from docpipe.query.search import Retriever

__all__ = ["NOTHING_FOUND", "NO_MODEL", "answer_question", "relevant_hits"]

NOTHING_FOUND = (
    "I could not find anything relevant to this question in your documents, so I cannot"
    " answer it from them."
)
NO_MODEL = "none"


def relevant_hits(hits: Sequence[Hit], *, min_similarity: float) -> list[Hit]:
    """Chunks that contain a query term, or are semantically close enough to the query."""
    return [
        hit
        for hit in hits
        if hit.keyword_score is not None
        or (hit.similarity is not None and hit.similarity >= min_similarity)
    ]


async def answer_question(
    *,
    retriever: Retriever,
    answerer: Answerer,
    tenant_id: str,
    question: str,
    top_k: int,
    document_ids: Sequence[uuid.UUID] | None,
    min_similarity: float,
) -> Answer:
    outcome = await retriever.search(
        tenant_id=tenant_id,
        query=question,
        mode="hybrid",
        top_k=top_k,
        document_ids=document_ids,
    )
    sources = relevant_hits(outcome.hits, min_similarity=min_similarity)
    if not sources:
        return Answer(text=NOTHING_FOUND, cited=[], model=NO_MODEL)
    return await answerer.answer(question=question, sources=sources)
