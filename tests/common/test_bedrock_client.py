"""The real aioboto3 bedrock-runtime paths over HTTP against the local Bedrock-format server:
batching, concurrency bounds, backoff on throttling and 5xx, response shapes, Converse.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from docpipe.common.bedrock_runtime import BedrockRuntime, RetryPolicy, converse, user_message
from docpipe.common.embeddings import close_embedder, create_embedder
from docpipe.common.embeddings.bedrock import BedrockEmbedder
from docpipe.common.exceptions import (
    BedrockRequestError,
    BedrockThrottled,
    EmbeddingRequestError,
    EmbeddingThrottled,
    EmbeddingUnavailable,
)
from docpipe.common.runtime import loop_resources
from docpipe.common.settings import CommonSettings
from docpipe.testkit.bedrock_server import (
    MODEL_NOT_READY,
    SERVER_ERROR,
    THROTTLE,
    UNAVAILABLE,
    BedrockServer,
    fake_embedding,
)

V4, V3, TITAN = "cohere.embed-v4:0", "cohere.embed-multilingual-v3", "amazon.titan-embed-text-v2:0"
FAST = RetryPolicy(max_retries=4, base_delay=0.001, max_delay=0.005)

MakeEmbedder = Callable[..., BedrockEmbedder]


@pytest.fixture(scope="module")
def server() -> Iterator[BedrockServer]:
    with BedrockServer() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server: BedrockServer) -> None:
    server.reset()


@pytest.fixture
async def make_embedder(server: BedrockServer) -> AsyncIterator[MakeEmbedder]:
    made: list[BedrockEmbedder] = []

    def make(
        model_id: str = V4,
        dimensions: int = 256,
        *,
        concurrency: int = 4,
        retry: RetryPolicy = FAST,
        endpoint_url: str | None = None,
    ) -> BedrockEmbedder:
        runtime = BedrockRuntime(
            region="ap-northeast-1",
            endpoint_url=endpoint_url or server.url,
            max_pool_connections=max(10, concurrency),
        )
        embedder = BedrockEmbedder(
            model_id=model_id,
            dimensions=dimensions,
            runtime=runtime,
            max_concurrency=concurrency,
            retry=retry,
        )
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        await embedder.aclose()


async def test_cohere_v4_splits_1000_texts_into_11_calls(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    texts = [f"chunk {i}: leave policy paragraph" for i in range(1000)]
    embedder = make_embedder(V4, 256)
    vectors = await embedder.embed(texts, input_type="search_document")

    assert server.calls(V4) == 11
    assert sorted(len(body["texts"]) for body in server.bodies(V4)) == [40] + [96] * 10
    assert vectors == [fake_embedding(t, 256) for t in texts]  # all of them, in input order
    assert (embedder.stats.calls, embedder.stats.texts) == (11, 1000)
    body = server.bodies(V4)[0]
    assert body["input_type"] == "search_document"
    assert body["embedding_types"] == ["float"]
    assert body["output_dimension"] == 256


async def test_an_inference_profile_id_goes_on_the_wire_with_its_family_body(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    """From ap-northeast-1 Cohere Embed v4 is reached through ``global.``: the profile ID
    is the modelId, and the body is still Cohere v4's."""
    profile = "global.cohere.embed-v4:0"
    vectors = await make_embedder(profile, 1024).embed(["請假規定"], input_type="search_query")
    assert server.calls(profile, ok=True) == 1 and server.calls(V4) == 0
    (body,) = server.bodies(profile)
    assert (body["output_dimension"], body["embedding_types"]) == (1024, ["float"])
    assert vectors == [fake_embedding("請假規定", 1024)]


async def test_input_type_is_passed_through(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    await make_embedder(V4).embed(["what is the leave policy?"], input_type="search_query")
    await make_embedder(V3, 1024).embed(["請假規定"], input_type="search_query")
    assert [b["input_type"] for b in server.bodies()] == ["search_query", "search_query"]


async def test_cohere_v3_plain_list_response(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    long_text = "x" * 3000  # v3 refuses texts over 2,048 characters; we clip first
    vectors = await make_embedder(V3, 1024).embed(
        ["hello", long_text], input_type="search_document"
    )
    assert vectors == [fake_embedding("hello", 1024), fake_embedding("x" * 2048, 1024)]
    (body,) = server.bodies(V3)
    assert "embedding_types" not in body and "output_dimension" not in body


async def test_cohere_v3_light_has_384_dimensions(make_embedder: MakeEmbedder) -> None:
    embedder = make_embedder("cohere.embed-english-light-v3", 384)
    (vector,) = await embedder.embed(["light"], input_type="search_document")
    assert len(vector) == 384


async def test_titan_one_text_per_call_with_bounded_parallelism(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    server.latency = 0.03
    texts = [f"titan text {i}" for i in range(20)]
    vectors = await make_embedder(TITAN, 512, concurrency=3).embed(
        texts, input_type="search_document"
    )
    assert vectors == [fake_embedding(t, 512) for t in texts]
    assert server.calls(TITAN) == 20
    assert {b["inputText"] for b in server.bodies(TITAN)} == set(texts)
    assert all(b["dimensions"] == 512 and b["normalize"] is True for b in server.bodies(TITAN))
    assert server.max_in_flight(TITAN) == 3  # parallel, and never beyond the bound


async def test_cohere_batches_respect_the_concurrency_bound(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    server.latency = 0.02
    await make_embedder(V4, concurrency=2).embed(["t"] * 96 * 6, input_type="search_document")
    assert server.calls(V4) == 6
    assert server.max_in_flight(V4) == 2


async def test_throttling_burst_is_retried_then_succeeds(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    server.fail_next(4, THROTTLE)
    embedder = make_embedder(V4, retry=FAST)  # 4 retries allowed
    vectors = await embedder.embed(["retry me"], input_type="search_document")
    assert vectors == [fake_embedding("retry me", 256)]
    assert server.calls(V4, ok=False) == 4 and server.calls(V4, ok=True) == 1
    assert (embedder.stats.retries, embedder.stats.throttled, embedder.stats.calls) == (4, 4, 1)


async def test_retries_exhausted_raise_embedding_throttled(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    server.fail_next(50, THROTTLE)
    embedder = make_embedder(V4, retry=RetryPolicy(max_retries=3, base_delay=0.001))
    with pytest.raises(EmbeddingThrottled, match="gave up after 4 attempts"):
        await embedder.embed(["never"], input_type="search_document")
    # exactly 1 + max_retries requests: botocore does not retry behind our back
    assert server.calls(V4) == 4
    assert (embedder.stats.retries, embedder.stats.throttled) == (3, 4)


@pytest.mark.parametrize("fault", [SERVER_ERROR, UNAVAILABLE, MODEL_NOT_READY])
async def test_transient_errors_are_retried(
    server: BedrockServer, make_embedder: MakeEmbedder, fault: Any
) -> None:
    server.fail_next(2, fault)
    embedder = make_embedder(TITAN, 256)
    assert await embedder.embed(["again"], input_type="search_query") == [
        fake_embedding("again", 256)
    ]
    assert (embedder.stats.retries, embedder.stats.throttled) == (2, 0)


async def test_persistent_5xx_raise_unavailable_not_throttled(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    server.fail_next(50, UNAVAILABLE)
    with pytest.raises(EmbeddingUnavailable) as caught:
        await make_embedder(V4).embed(["down"], input_type="search_document")
    assert not isinstance(caught.value, EmbeddingThrottled)
    assert server.calls(V4) == FAST.max_retries + 1


async def test_validation_errors_are_not_retried(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    with pytest.raises(EmbeddingRequestError, match="ValidationException"):
        await make_embedder(TITAN, 256).embed([""], input_type="search_document")  # empty text
    assert server.calls(TITAN) == 1


async def test_one_failing_batch_fails_the_call(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    server.fail_next(50, SERVER_ERROR, model_id=TITAN)
    embedder = make_embedder(TITAN, 256, retry=RetryPolicy(max_retries=1, base_delay=0.001))
    with pytest.raises(EmbeddingUnavailable):
        await embedder.embed([f"t{i}" for i in range(10)], input_type="search_document")


async def test_connection_errors_are_retried_then_reported(make_embedder: MakeEmbedder) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    embedder = make_embedder(V4, endpoint_url=closed, retry=RetryPolicy(2, 0.001, 0.002))
    with pytest.raises(EmbeddingUnavailable, match="gave up after 3 attempts"):
        await embedder.embed(["x"], input_type="search_document")
    assert embedder.stats.retries == 2


async def test_client_is_created_once_and_recreated_after_close(
    server: BedrockServer, make_embedder: MakeEmbedder
) -> None:
    embedder = make_embedder(V4)
    runtime = embedder._runtime
    assert runtime.key not in loop_resources()  # nothing opened before the first call
    await embedder.embed(["one"], input_type="search_document")
    first = await runtime.client()
    await embedder.embed(["two"], input_type="search_document")
    assert await runtime.client() is first
    await embedder.aclose()
    await embedder.embed(["three"], input_type="search_document")
    assert await runtime.client() is not first
    assert server.calls(V4) == 3


async def test_create_embedder_uses_bedrock_endpoint_not_aws_endpoint(
    server: BedrockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # moto locally: no Bedrock
    settings = CommonSettings(
        database_url="postgresql://localhost/unused",
        auth_mode="none",
        embedding_provider="bedrock",
        embedding_model_id=V4,
        embedding_dimensions=1024,
        bedrock_endpoint_url=server.url,
    )
    embedder = create_embedder(settings)
    try:
        (vector,) = await embedder.embed(["via settings"], input_type="search_query")
    finally:
        await close_embedder(embedder)
    assert vector == fake_embedding("via settings", 1024)
    default = BedrockRuntime(region="ap-northeast-1")  # no BEDROCK_ENDPOINT_URL
    try:
        client = await default.client()
        assert client.meta.endpoint_url == "https://bedrock-runtime.ap-northeast-1.amazonaws.com"
    finally:
        await default.aclose()


@pytest.fixture
async def runtime(server: BedrockServer) -> AsyncIterator[BedrockRuntime]:
    held = BedrockRuntime(region="ap-northeast-1", endpoint_url=server.url)
    yield held
    await held.aclose()


async def test_converse_returns_text_usage_and_stop_reason(
    server: BedrockServer, runtime: BedrockRuntime
) -> None:
    server.converse_reply = lambda model, request: "Twenty days [1]."
    result = await converse(
        client=await runtime.client(),
        model_id="amazon.nova-pro-v1:0",
        system="Answer only from the sources.",
        messages=[user_message("How many leave days?")],
        max_tokens=256,
        temperature=0.0,
    )
    assert result.text == "Twenty days [1]."
    assert result.stop_reason == "end_turn"
    assert result.output_tokens == 3 and result.input_tokens > 0
    (body,) = server.bodies("amazon.nova-pro-v1:0", operation="converse")
    assert body["system"] == [{"text": "Answer only from the sources."}]
    assert body["inferenceConfig"] == {"maxTokens": 256, "temperature": 0.0}
    assert body["messages"] == [{"role": "user", "content": [{"text": "How many leave days?"}]}]


async def test_converse_reports_max_tokens_stop(
    server: BedrockServer, runtime: BedrockRuntime
) -> None:
    server.converse_reply = lambda model, request: "one two three four five"
    result = await converse(
        client=await runtime.client(),
        model_id="amazon.nova-pro-v1:0",
        system=None,
        messages=[user_message("count")],
        max_tokens=2,
        temperature=0.2,
    )
    assert (result.text, result.stop_reason) == ("one two", "max_tokens")
    (body,) = server.bodies(operation="converse")
    assert "system" not in body


async def test_converse_backs_off_on_throttling(
    server: BedrockServer, runtime: BedrockRuntime
) -> None:
    client = await runtime.client()
    server.fail_next(2, THROTTLE)
    kwargs: dict[str, Any] = {
        "client": client,
        "model_id": "amazon.nova-pro-v1:0",
        "system": None,
        "messages": [user_message("hi")],
        "max_tokens": 10,
        "temperature": 0.0,
        "policy": FAST,
    }
    assert (await converse(**kwargs)).text.endswith("hi")
    assert server.calls(operation="converse") == 3

    server.fail_next(50, THROTTLE)
    with pytest.raises(BedrockThrottled):
        await converse(**kwargs)
    assert server.calls(operation="converse") == 3 + FAST.max_retries + 1


async def test_converse_validation_error_is_not_retried(
    server: BedrockServer, runtime: BedrockRuntime
) -> None:
    with pytest.raises(BedrockRequestError, match="ValidationException"):
        await converse(
            client=await runtime.client(),
            model_id="amazon.nova-pro-v1:0",
            system=None,
            messages=[{"role": "assistant", "content": [{"text": "I start"}]}],
            max_tokens=10,
            temperature=0.0,
            policy=FAST,
        )
    assert server.calls(operation="converse") == 1
