"""Pick the embedder named by ``EMBEDDING_PROVIDER``; providers are imported only when chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docpipe.common.embeddings.types import Embedder
from docpipe.common.exceptions import EmbeddingConfigError

if TYPE_CHECKING:
    from docpipe.common.settings import CommonSettings

__all__ = ["close_embedder", "create_embedder"]


def create_embedder(settings: CommonSettings) -> Embedder:
    """The configured embedder. Creates no network client yet (that happens on first use).

    Raises :class:`EmbeddingConfigError` for an unknown model, a dimension the model
    cannot produce, or a provider whose optional dependencies are missing.
    """
    provider = settings.embedding_provider
    if provider == "local":
        from docpipe.common.embeddings.local import LocalHashEmbedder

        return LocalHashEmbedder(dimensions=settings.embedding_dimensions)
    if provider == "sentence-transformers":
        from docpipe.common.embeddings.sbert import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder.from_settings(settings)
    if provider == "bedrock":
        from docpipe.common.embeddings.bedrock import BedrockEmbedder

        return BedrockEmbedder.from_settings(settings)
    raise EmbeddingConfigError(f"unknown EMBEDDING_PROVIDER {provider!r}")


async def close_embedder(embedder: Embedder) -> None:
    """Release what the embedder holds (HTTP client, model); safe on any embedder."""
    aclose = getattr(embedder, "aclose", None)
    if aclose is not None:
        await aclose()
