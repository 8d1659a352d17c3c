"""Bedrock InvokeModel embedder: batching, bounded concurrency, backoff on throttling.

Texts are split into per-call batches (96 for Cohere, 1 for Titan) that run concurrently,
at most ``max_concurrency`` HTTP calls in flight (the semaphore is held for the call only,
not during backoff sleeps). One failing batch cancels the others and its error is raised.
The client is created on first use and kept for the event loop; call :meth:`aclose`
before the loop ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from docpipe.common.bedrock_runtime import BedrockRuntime, RetryPolicy, call_with_backoff
from docpipe.common.embeddings.bedrock_models import resolve_model
from docpipe.common.embeddings.types import EmbeddingStats, InputType
from docpipe.common.exceptions import (
    BedrockRequestError,
    BedrockThrottled,
    BedrockUnavailable,
    EmbeddingRequestError,
    EmbeddingResponseError,
    EmbeddingThrottled,
    EmbeddingUnavailable,
)
from docpipe.common.runtime import loop_resources

if TYPE_CHECKING:
    from docpipe.common.settings import CommonSettings

__all__ = ["BedrockEmbedder"]

T = TypeVar("T")


async def _all_or_nothing(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise that error itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
    return [task.result() for task in tasks]


class BedrockEmbedder:
    """Embeds with a Bedrock model (``EMBEDDING_PROVIDER=bedrock``)."""

    cache_embeddings = True  # every call is billed by the token

    def __init__(
        self,
        *,
        model_id: str,
        dimensions: int,
        runtime: BedrockRuntime,
        max_concurrency: int = 4,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._model = resolve_model(model_id, dimensions)
        self.model_id = model_id
        self.dimensions = dimensions
        self.stats = EmbeddingStats()
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self._runtime = runtime

    @classmethod
    def from_settings(
        cls, settings: CommonSettings, *, retry: RetryPolicy | None = None
    ) -> BedrockEmbedder:
        concurrency = settings.embedding_max_concurrency
        return cls(
            model_id=settings.embedding_model_id,
            dimensions=settings.embedding_dimensions,
            runtime=BedrockRuntime.from_settings(
                settings, max_pool_connections=max(10, concurrency)
            ),
            max_concurrency=concurrency,
            retry=retry or RetryPolicy(max_retries=settings.embedding_max_retries),
        )

    async def embed(self, texts: Sequence[str], *, input_type: InputType) -> list[list[float]]:
        size = self._model.batch_size
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        results = await _all_or_nothing([self._embed_batch(b, input_type) for b in batches])
        return [vector for batch in results for vector in batch]

    async def aclose(self) -> None:
        """Close the HTTP client; the embedder stays usable (a new client is made on demand)."""
        await self._runtime.aclose()

    def _slots(self) -> asyncio.Semaphore:
        """This embedder's concurrency limit on the running loop."""
        return loop_resources().setdefault(
            ("embedding-slots", self), lambda: asyncio.Semaphore(self.max_concurrency)
        )

    def _count_error(self, throttled: bool, retrying: bool) -> None:
        self.stats.throttled += throttled
        self.stats.retries += retrying

    async def _embed_batch(self, texts: Sequence[str], input_type: InputType) -> list[list[float]]:
        body = json.dumps(self._model.request_body(texts, input_type=input_type))
        client = await self._runtime.client()

        async def invoke() -> bytes:
            async with self._slots():
                response = await client.invoke_model(
                    modelId=self.model_id,
                    body=body,
                    contentType="application/json",
                    accept="application/json",
                )
                raw: bytes = await response["body"].read()
            return raw

        try:
            raw = await call_with_backoff(invoke, policy=self.retry, on_error=self._count_error)
        except BedrockThrottled as exc:
            raise EmbeddingThrottled(f"{self.model_id}: {exc}") from exc
        except BedrockUnavailable as exc:
            raise EmbeddingUnavailable(f"{self.model_id}: {exc}") from exc
        except BedrockRequestError as exc:
            raise EmbeddingRequestError(f"{self.model_id}: {exc}") from exc
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise EmbeddingResponseError(f"{self.model_id}: response is not JSON") from exc
        vectors = self._model.parse_response(payload, count=len(texts))
        self.stats.calls += 1
        self.stats.texts += len(texts)
        return vectors
