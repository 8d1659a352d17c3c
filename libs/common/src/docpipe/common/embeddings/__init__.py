"""Text embeddings behind one small interface: :class:`Embedder` and :func:`create_embedder`.

Providers (``EMBEDDING_PROVIDER``): ``local`` (feature hashing, no model),
``sentence-transformers`` (optional extra) and ``bedrock`` (Cohere Embed v3/v4, Titan
Text v2). Usage::

    embedder = create_embedder(settings)
    vectors = await embedder.embed(texts, input_type="search_document")
    ...
    await close_embedder(embedder)  # before the event loop ends
"""

from docpipe.common.embeddings.factory import close_embedder, create_embedder
from docpipe.common.embeddings.types import Embedder, EmbeddingStats, InputType

__all__ = [
    "Embedder",
    "EmbeddingStats",
    "InputType",
    "close_embedder",
    "create_embedder",
]
