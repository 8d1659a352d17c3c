"""A retrieved chunk as the retrieval legs, the fusion and the answerers pass it around."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import asyncpg

__all__ = ["HIT_COLUMNS", "Hit", "hit_from_row"]

#: The columns every leg selects (``c`` = chunks, ``d`` = documents).
HIT_COLUMNS = "c.id, c.document_id, d.filename, c.page_start, c.page_end, c.text"


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    page_start: int | None
    page_end: int | None
    text: str
    score: float
    similarity: float | None = None
    """Cosine similarity to the query when the vector leg saw this chunk."""
    keyword_score: float | None = None
    """Keyword rank when the chunk matched the keyword query (it contains a query term)."""

    def rescored(self, score: float) -> Hit:
        return replace(self, score=score)


def hit_from_row(
    row: asyncpg.Record,
    *,
    score: float,
    similarity: float | None = None,
    keyword_score: float | None = None,
) -> Hit:
    return Hit(
        chunk_id=row["id"],
        document_id=row["document_id"],
        filename=row["filename"],
        page_start=row["page_start"],
        page_end=row["page_end"],
        text=row["text"],
        score=score,
        similarity=similarity,
        keyword_score=keyword_score,
    )
