"""sentence-transformers provider with the bundled all-MiniLM-L6-v2 weights (optional extra)."""

from __future__ import annotations

from typing import Any

import pytest

from docpipe.common.embeddings import create_embedder
from docpipe.common.embeddings.sbert import (
    MINILM_MODEL_ID,
    SentenceTransformerEmbedder,
)
from docpipe.common.exceptions import EmbeddingConfigError
from docpipe.common.settings import CommonSettings

# `make test-sbert` installs the extra and runs these; `make test` leaves them out.
pytestmark = pytest.mark.sbert


def settings(**overrides: Any) -> CommonSettings:
    return CommonSettings(
        database_url="postgresql://localhost/unused",
        auth_mode="none",
        embedding_provider="sentence-transformers",
        **overrides,
    )


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    made = create_embedder(settings(embedding_dimensions=384))
    assert isinstance(made, SentenceTransformerEmbedder)
    return made


def test_default_model_id_maps_to_bundled_minilm(embedder: SentenceTransformerEmbedder) -> None:
    assert (embedder.model_id, embedder.dimensions) == (MINILM_MODEL_ID, 384)


def test_dimension_mismatch_is_refused_before_loading() -> None:
    with pytest.raises(EmbeddingConfigError, match="EMBEDDING_DIMENSIONS=384"):
        create_embedder(settings(embedding_dimensions=1024))


async def test_vectors_are_normalised_and_semantic(embedder: SentenceTransformerEmbedder) -> None:
    query, close, far = await embedder.embed(
        [
            "How many vacation days do employees get?",
            "Staff are entitled to twenty days of paid annual leave.",
            "The server room temperature must stay below 25 degrees.",
        ],
        input_type="search_document",
    )
    assert len(query) == 384
    assert sum(x * x for x in query) == pytest.approx(1.0, abs=1e-5)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(query, close) > cos(query, far) + 0.1
    assert embedder.stats.texts == 3
