"""create_embedder picks the provider from settings and fails fast on bad configuration."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from docpipe.common.embeddings import Embedder, close_embedder, create_embedder
from docpipe.common.embeddings.bedrock import BedrockEmbedder
from docpipe.common.embeddings.local import LocalHashEmbedder
from docpipe.common.exceptions import EmbeddingConfigError
from docpipe.common.settings import CommonSettings


def settings(**overrides: Any) -> CommonSettings:
    return CommonSettings(
        database_url="postgresql://localhost/unused", auth_mode="none", **overrides
    )


async def test_local_provider() -> None:
    embedder = create_embedder(settings(embedding_provider="local", embedding_dimensions=128))
    assert isinstance(embedder, LocalHashEmbedder)
    assert (embedder.model_id, embedder.dimensions) == ("local-hash-v1", 128)
    assert len((await embedder.embed(["x"], input_type="search_query"))[0]) == 128
    await close_embedder(embedder)


def test_bedrock_provider_is_configured_but_not_connected() -> None:
    embedder = create_embedder(
        settings(
            embedding_provider="bedrock",
            embedding_model_id="amazon.titan-embed-text-v2:0",
            embedding_dimensions=512,
            embedding_max_concurrency=7,
            embedding_max_retries=2,
            bedrock_endpoint_url="http://127.0.0.1:1",
        )
    )
    assert isinstance(embedder, BedrockEmbedder)
    assert isinstance(embedder, Embedder)
    assert (embedder.model_id, embedder.dimensions) == ("amazon.titan-embed-text-v2:0", 512)
    assert embedder.max_concurrency == 7
    assert embedder.retry.max_retries == 2
    assert embedder._runtime.endpoint_url == "http://127.0.0.1:1"


@pytest.mark.parametrize(
    ("model_id", "dims", "message"),
    [
        ("cohere.embed-v4:0", 384, "EMBEDDING_DIMENSIONS=384"),
        ("amazon.titan-embed-text-v1", 1024, "unsupported"),
    ],
)
def test_bedrock_misconfiguration_fails_fast(model_id: str, dims: int, message: str) -> None:
    config = settings(
        embedding_provider="bedrock", embedding_model_id=model_id, embedding_dimensions=dims
    )
    with pytest.raises(EmbeddingConfigError, match=message):
        create_embedder(config)


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed",
)
def test_sentence_transformers_without_the_extra_says_how_to_install() -> None:
    config = settings(embedding_provider="sentence-transformers", embedding_dimensions=384)
    with pytest.raises(EmbeddingConfigError, match="extra"):
        create_embedder(config)
