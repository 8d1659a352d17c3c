"""Request and response bodies of the query API (they make up its OpenAPI document).

The limit that depends on configuration (``MAX_QUERY_CHARS``) is checked in
:mod:`docpipe.query.routes`; the fixed ones (``top_k``, ``mode``, the number of
``document_ids``) are declared here so the OpenAPI document states them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_DOCUMENT_IDS",
    "AnswerRequest",
    "AnswerResponse",
    "Citation",
    "ConversationDetail",
    "ConversationPage",
    "ConversationSummary",
    "Health",
    "Message",
    "SourcesEvent",
    "StreamedSource",
    "SearchMode",
    "SearchRequest",
    "SearchResponse",
    "SearchResult",
]

SearchMode = Literal["hybrid", "vector", "keyword"]
MAX_DOCUMENT_IDS = 100


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1,
        description="free text in any language (not blank)",
        examples=["How many vacation days do new employees get?"],
    )
    top_k: int = Field(default=5, ge=1, le=50, description="how many chunks to return")
    document_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_DOCUMENT_IDS,
        description="search only these documents of the caller",
    )
    filters: dict[str, Any] | None = Field(
        default=None,
        description="metadata conditions, ANDed: {field: value} (equality; membership for"
        ' a list field), {field: {"in": [...]}}, {field: {"gte": x, "lte": y}} (numbers or'
        " ISO-8601 dates). Never fewer than top_k results while more matching chunks exist.",
        examples=[{"department": "HR", "year": {"gte": 2025}}],
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query must not be empty or whitespace")
        return value


class SearchRequest(_Query):
    mode: SearchMode = Field(
        default="hybrid",
        description="hybrid fuses the vector and"
        " keyword legs; vector and keyword run one leg alone",
    )


class SearchResult(BaseModel):
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    page_start: int | None = Field(
        description="PDF page, PowerPoint slide or Excel sheet (1-based); null for formats"
        " without pages (Word, HTML, CSV, text)"
    )
    page_end: int | None
    text: str
    score: float = Field(description="higher is better; comparable within one response only")


class SearchResponse(BaseModel):
    results: list[SearchResult]
    took_ms: float


class AnswerRequest(_Query):
    conversation_id: uuid.UUID | None = Field(
        default=None,
        description="continue this conversation of the caller (the question is first"
        " rewritten with its history into a standalone query); omit to start one",
    )
    stream: bool = Field(
        default=False,
        description="true: answer as text/event-stream (events sources, delta…, done)",
    )


class Citation(BaseModel):
    document_id: uuid.UUID
    filename: str
    page_start: int | None = Field(
        description="PDF page, PowerPoint slide or Excel sheet (1-based); null for formats"
        " without pages (Word, HTML, CSV, text)"
    )
    page_end: int | None
    chunk_id: uuid.UUID


class AnswerResponse(BaseModel):
    answer: str
    citations: list[Citation] = Field(description="the returned chunks the answer cites")
    model: str = Field(
        description="the Bedrock model id, 'extractive' for the offline"
        " answerer, or 'none' when nothing relevant was found"
    )
    conversation_id: uuid.UUID
    message_id: uuid.UUID = Field(description="this answer's message in the conversation")
    standalone_query: str = Field(
        description="the question as retrieval saw it: rewritten with the conversation's"
        " history for a follow-up, the question itself otherwise"
    )


class StreamedSource(Citation):
    n: int = Field(description="the number the answer cites as [n]")


class SourcesEvent(BaseModel):
    """Data of the first server-sent event (``event: sources``) of a streamed answer."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    standalone_query: str
    sources: list[StreamedSource]


class ConversationSummary(BaseModel):
    id: uuid.UUID
    title: str
    created_at: datetime
    updated_at: datetime


class ConversationPage(BaseModel):
    conversations: list[ConversationSummary]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null on the last page"
    )


class Message(BaseModel):
    id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str
    citations: list[Citation] | None = Field(
        default=None, description="assistant messages: the chunks the answer cites"
    )
    created_at: datetime


class ConversationDetail(BaseModel):
    id: uuid.UUID
    title: str
    created_at: datetime
    messages: list[Message]


class Health(BaseModel):
    status: Literal["ok"]
