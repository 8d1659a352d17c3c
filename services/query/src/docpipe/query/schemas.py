"""Request and response bodies of the query API (they make up its OpenAPI document).

Limits that depend on configuration (query length, number of document ids) are checked
in :mod:`docpipe.query.validation`; the fixed ones (``top_k``, ``mode``) are declared here
so the OpenAPI document states them.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_DOCUMENT_IDS",
    "AnswerRequest",
    "AnswerResponse",
    "Citation",
    "Health",
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
    page_start: int
    page_end: int
    text: str
    score: float = Field(description="higher is better; comparable within one response only")


class SearchResponse(BaseModel):
    results: list[SearchResult]
    took_ms: float


class AnswerRequest(_Query):
    pass


class Citation(BaseModel):
    document_id: uuid.UUID
    filename: str
    page_start: int
    page_end: int
    chunk_id: uuid.UUID


class AnswerResponse(BaseModel):
    answer: str
    citations: list[Citation] = Field(description="the returned chunks the answer cites")
    model: str = Field(
        description="the Bedrock model id, 'extractive' for the offline"
        " answerer, or 'none' when nothing relevant was found"
    )


class Health(BaseModel):
    status: Literal["ok"]
