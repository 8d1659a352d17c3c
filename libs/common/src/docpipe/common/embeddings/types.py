"""The embedder contract every provider implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Embedder", "EmbeddingStats", "InputType"]

InputType = Literal["search_document", "search_query"]


@dataclass
class EmbeddingStats:
    """Running counters of one embedder, for per-run summaries.

    ``calls`` counts successful provider calls (HTTP requests for Bedrock, encode batches
    locally), ``texts`` the texts embedded, ``retries`` the attempts repeated after a
    transient error, and ``throttled`` the throttling responses seen (each one retried or not).
    """

    calls: int = 0
    texts: int = 0
    retries: int = 0
    throttled: int = 0


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of ``dimensions`` floats.

    ``model_id`` names the vector space: two embedders with the same ``model_id`` and
    ``dimensions`` produce interchangeable vectors (it is the embedding-cache key).
    ``cache_embeddings`` says whether a vector is worth keeping in the embedding cache:
    true where embedding costs money or seconds (Bedrock, a local model), false where
    computing it again is cheaper than the cache's read and write. The result has one
    vector per input text, in input order.
    """

    model_id: str
    dimensions: int
    stats: EmbeddingStats
    cache_embeddings: bool

    async def embed(self, texts: Sequence[str], *, input_type: InputType) -> list[list[float]]: ...
