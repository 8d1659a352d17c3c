"""Bedrock embedding wire formats: model resolution, request bodies, clipping, response parsing."""

from __future__ import annotations

import pytest

from docpipe.common.bedrock_runtime import RetryPolicy
from docpipe.common.embeddings.bedrock_models import clip_text, resolve_model
from docpipe.common.exceptions import EmbeddingConfigError, EmbeddingResponseError


@pytest.mark.parametrize(
    ("model_id", "dims", "family", "batch"),
    [
        ("cohere.embed-v4:0", 1024, "cohere-v4", 96),
        ("us.cohere.embed-v4:0", 1536, "cohere-v4", 96),
        # cross-Region inference profile IDs (what the services send from ap-northeast-1)
        ("global.cohere.embed-v4:0", 1024, "cohere-v4", 96),
        ("apac.cohere.embed-v4:0", 1024, "cohere-v4", 96),
        ("jp.cohere.embed-v4:0", 512, "cohere-v4", 96),
        ("apac.cohere.embed-multilingual-v3", 1024, "cohere-v3", 96),
        ("us.amazon.titan-embed-text-v2:0", 256, "titan-v2", 1),
        (
            "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/global.cohere.embed-v4:0",
            1536,
            "cohere-v4",
            96,
        ),
        (
            "arn:aws:bedrock:ap-northeast-1::foundation-model/cohere.embed-v4:0",
            256,
            "cohere-v4",
            96,
        ),
        ("cohere.embed-multilingual-v3", 1024, "cohere-v3", 96),
        ("cohere.embed-english-light-v3", 384, "cohere-v3", 96),
        ("amazon.titan-embed-text-v2:0", 512, "titan-v2", 1),
    ],
)
def test_model_families_are_recognised(model_id: str, dims: int, family: str, batch: int) -> None:
    model = resolve_model(model_id, dims)
    assert (model.family, model.batch_size, model.dimensions) == (family, batch, dims)


@pytest.mark.parametrize(
    ("model_id", "dims"),
    [
        ("cohere.embed-v4:0", 384),
        ("cohere.embed-multilingual-v3", 1536),
        ("cohere.embed-english-light-v3", 1024),
        ("amazon.titan-embed-text-v2:0", 1536),
    ],
)
def test_dimensions_the_model_cannot_produce_are_refused(model_id: str, dims: int) -> None:
    with pytest.raises(EmbeddingConfigError, match=f"EMBEDDING_DIMENSIONS={dims}"):
        resolve_model(model_id, dims)


@pytest.mark.parametrize("model_id", ["amazon.titan-embed-text-v1", "openai.gpt", "cohere.command"])
def test_unsupported_models_are_refused(model_id: str) -> None:
    with pytest.raises(EmbeddingConfigError, match="unsupported"):
        resolve_model(model_id, 1024)


def test_cohere_v4_body() -> None:
    body = resolve_model("cohere.embed-v4:0", 512).request_body(
        ["a", "b"], input_type="search_query"
    )
    assert body == {
        "texts": ["a", "b"],
        "input_type": "search_query",
        "embedding_types": ["float"],
        "output_dimension": 512,
        "truncate": "RIGHT",
    }


def test_cohere_v3_body_clips_to_2048_characters() -> None:
    body = resolve_model("cohere.embed-multilingual-v3", 1024).request_body(
        ["x" * 5000, "short"], input_type="search_document"
    )
    assert body == {
        "texts": ["x" * 2048, "short"],
        "input_type": "search_document",
        "truncate": "END",
    }


def test_titan_body_is_one_text() -> None:
    model = resolve_model("amazon.titan-embed-text-v2:0", 256)
    body = model.request_body(["hello"], input_type="search_query")
    assert body == {"inputText": "hello", "dimensions": 256, "normalize": True}
    with pytest.raises(ValueError):
        model.request_body(["a", "b"], input_type="search_query")


def test_clip_text_budgets_tokens_conservatively() -> None:
    assert clip_text("short text", max_chars=100, max_tokens=10) == "short text"
    english = clip_text("word " * 20_000, max_chars=50_000, max_tokens=8_000)
    assert 20_000 <= len(english) <= 24_001
    chinese = clip_text("人力資源" * 5_000, max_chars=50_000, max_tokens=8_000)
    assert len(chinese) == 4_000
    assert clip_text("abc" * 10, max_chars=7) == "abcabca"


def test_parse_v4_by_type_and_v3_flat_shapes() -> None:
    v4 = resolve_model("cohere.embed-v4:0", 256)
    v3 = resolve_model("cohere.embed-english-v3", 1024)
    assert v4.parse_response({"embeddings": {"float": [[0.5] * 256]}}, count=1) == [[0.5] * 256]
    assert v3.parse_response({"embeddings": [[1] * 1024, [0] * 1024]}, count=2)[0][0] == 1.0
    # v3 asked for embedding_types answers by type too; both shapes are accepted.
    assert len(v3.parse_response({"embeddings": {"float": [[0.0] * 1024]}}, count=1)) == 1
    titan = resolve_model("amazon.titan-embed-text-v2:0", 256)
    assert titan.parse_response({"embedding": [0.1] * 256}, count=1) == [[0.1] * 256]


@pytest.mark.parametrize(
    ("payload", "count", "message"),
    [
        ({"embeddings": {"float": [[0.0] * 255]}}, 1, "expected 256 dimensions, got 255"),
        ({"embeddings": {"float": [[0.0] * 256]}}, 2, "expected 2 vectors, got 1"),
        ({"embeddings": {"int8": [[0] * 256]}}, 1, "unexpected response shape"),
        ({"message": "nope"}, 1, "unexpected response shape"),
        ({"embeddings": "oops"}, 1, "expected 1 vectors"),
    ],
)
def test_malformed_responses_are_refused(
    payload: dict[str, object], count: int, message: str
) -> None:
    with pytest.raises(EmbeddingResponseError, match=message):
        resolve_model("cohere.embed-v4:0", 256).parse_response(payload, count=count)


def test_backoff_is_full_jitter_capped() -> None:
    policy = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=4.0)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range
