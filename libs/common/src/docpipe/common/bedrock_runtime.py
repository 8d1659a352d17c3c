"""Amazon Bedrock runtime access: one lazily created client per event loop, our retry policy,
and the Converse call used for grounded answers.

botocore's own retries are switched off (``total_max_attempts=1``) so :func:`call_with_backoff`
is the only policy: exponential backoff with full jitter on throttling, 5xx and
connection errors, up to ``max_retries`` repeats. aiobotocore clients hold an aiohttp
session bound to the loop that created them, so :class:`BedrockRuntime` keeps its client
in the running loop's :mod:`~docpipe.common.runtime` registry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from docpipe.common.aws import session
from docpipe.common.exceptions import (
    BedrockRequestError,
    BedrockThrottled,
    BedrockUnavailable,
)
from docpipe.common.runtime import loop_resources

if TYPE_CHECKING:
    from docpipe.common.settings import CommonSettings

__all__ = [
    "BedrockRuntime",
    "ConverseResult",
    "RetryPolicy",
    "call_with_backoff",
    "client_config",
    "converse",
    "converse_stream",
    "user_message",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

_THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException"})
_TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "InternalServerException",
        "ModelTimeoutException",
        "ModelStreamErrorException",
    }
)
_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)


def client_config(*, max_pool_connections: int = 10, read_timeout: float = 60.0) -> Config:
    """botocore config for bedrock-runtime: no botocore retries, a pool sized for our fan-out.

    ``total_max_attempts`` counts the first attempt; botocore's ``max_attempts`` counts
    retries, so ``max_attempts=1`` would still retry once behind our back. Configured
    endpoints (``AWS_ENDPOINT_URL``, which points at moto locally) are ignored: moto
    has no bedrock-runtime, so only an explicit ``endpoint_url`` redirects Bedrock.
    """
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        ignore_configured_endpoint_urls=True,
        max_pool_connections=max_pool_connections,
        connect_timeout=5,
        read_timeout=read_timeout,
    )


class BedrockRuntime:
    """A bedrock-runtime client for the running event loop, opened on first use.

    The endpoint is ``endpoint_url`` when given (a local Bedrock-format server in tests),
    otherwise the regional default: ``AWS_ENDPOINT_URL`` deliberately does not apply,
    because the local S3/SQS server has no Bedrock. Runtimes with the same settings share
    one client (and its connection pool) per loop.
    """

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        max_pool_connections: int = 10,
        read_timeout: float = 60.0,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._config = client_config(
            max_pool_connections=max_pool_connections, read_timeout=read_timeout
        )
        #: The client's name in the loop's registry.
        self.key: Hashable = (
            "bedrock-runtime",
            region,
            endpoint_url,
            max_pool_connections,
            read_timeout,
        )

    @classmethod
    def from_settings(cls, settings: CommonSettings, **kwargs: Any) -> BedrockRuntime:
        return cls(region=settings.aws_region, endpoint_url=settings.bedrock_endpoint_url, **kwargs)

    async def client(self) -> Any:
        """The client for the running loop (an aiobotocore ``BedrockRuntime`` client)."""

        async def open_client(stack: AsyncExitStack) -> Any:
            return await stack.enter_async_context(
                session().client(
                    "bedrock-runtime",
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=self._config,
                )
            )

        return await loop_resources().get(self.key, open_client)

    async def aclose(self) -> None:
        """Close the client (its HTTP connection pool); a later call opens a new one."""
        await loop_resources().close(self.key)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n sleeps U(0, min(cap, base * 2**n))."""

    max_retries: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2.0**attempt))


def _classify(exc: BaseException) -> str | None:
    """``"throttled"``, ``"transient"`` or None (not retryable)."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return "transient"
    if not isinstance(exc, ClientError):
        return None
    code = str(exc.response.get("Error", {}).get("Code", ""))
    code = code[:1].upper() + code[1:]  # ConverseStream's exception events: "throttlingException"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in _THROTTLING_CODES or (status == 429 and code not in _TRANSIENT_CODES):
        return "throttled"
    if code in _TRANSIENT_CODES or status >= 500:
        return "transient"
    return None


async def call_with_backoff(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    on_error: Callable[[bool, bool], None] | None = None,
) -> T:
    """Run ``call`` and repeat it on retryable Bedrock errors, at most ``policy.max_retries`` times.

    ``on_error(throttled, retrying)`` is told about every retryable failure, including
    the last one (``retrying=False``). Raises :class:`BedrockThrottled` or
    :class:`BedrockUnavailable` when retries run out, and :class:`BedrockRequestError`
    at once for other client errors.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except (ClientError, *_CONNECTION_ERRORS) as exc:
            kind = _classify(exc)
            if kind is None:
                raise BedrockRequestError(str(exc)) from exc
            retrying = attempt < policy.max_retries
            if on_error is not None:
                on_error(kind == "throttled", retrying)
            if not retrying:
                error = BedrockThrottled if kind == "throttled" else BedrockUnavailable
                raise error(f"gave up after {attempt + 1} attempts: {exc}") from exc
            await asyncio.sleep(policy.delay(attempt))
            attempt += 1


@dataclass(frozen=True)
class ConverseResult:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str


def user_message(text: str) -> dict[str, Any]:
    """One Converse ``user`` message with a single text block."""
    return {"role": "user", "content": [{"text": text}]}


def _converse_request(
    *,
    model_id: str,
    system: str | None,
    messages: Sequence[Mapping[str, Any]],
    max_tokens: int,
    temperature: float,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "modelId": model_id,
        "messages": list(messages),
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
    }
    if system:
        request["system"] = [{"text": system}]
    return request


async def converse(
    *,
    client: Any,
    model_id: str,
    system: str | None,
    messages: Sequence[Mapping[str, Any]],
    max_tokens: int,
    temperature: float,
    policy: RetryPolicy | None = None,
) -> ConverseResult:
    """One Converse API call (with :func:`call_with_backoff`); returns the joined text blocks.

    ``messages`` are Converse messages (``{"role", "content": [{"text"}]}``, see
    :func:`user_message`); ``client`` comes from :meth:`BedrockRuntime.client`.
    """
    request = _converse_request(
        model_id=model_id,
        system=system,
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
    )

    async def call() -> dict[str, Any]:
        response: dict[str, Any] = await client.converse(**request)
        return response

    response = await call_with_backoff(call, policy=policy or RetryPolicy())
    content = response.get("output", {}).get("message", {}).get("content", [])
    usage = response.get("usage", {})
    return ConverseResult(
        text="".join(block["text"] for block in content if "text" in block),
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        stop_reason=str(response.get("stopReason", "")),
    )


async def converse_stream(
    *,
    client: Any,
    model_id: str,
    system: str | None,
    messages: Sequence[Mapping[str, Any]],
    max_tokens: int,
    temperature: float,
    policy: RetryPolicy | None = None,
) -> AsyncIterator[str]:
    """The ConverseStream API: yields each text delta as Bedrock sends it.

    The response is an ``application/vnd.amazon.eventstream`` that botocore decodes into
    events (``messageStart``, ``contentBlockDelta``, ``contentBlockStop``, ``messageStop``,
    ``metadata``); an error inside the stream (``throttlingException``,
    ``modelStreamErrorException``, …) arrives as an exception event, which botocore raises
    as ``EventStreamError`` (a ``ClientError``):
    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html.
    A failure is retried like :func:`converse` while no text has been yielded; after
    that the caller has forwarded text, so it ends as :class:`BedrockError` instead.
    """
    request = _converse_request(
        model_id=model_id,
        system=system,
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
    )
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        sent_text = False
        try:
            response = await client.converse_stream(**request)
            stream = response["stream"]
            try:
                async for event in stream:
                    delta = event.get("contentBlockDelta", {}).get("delta", {}).get("text")
                    if delta:
                        sent_text = True
                        yield delta
            finally:
                close = getattr(stream, "close", None)  # release the HTTP connection early
                if close is not None:
                    close()
            return
        except (ClientError, *_CONNECTION_ERRORS) as exc:
            kind = _classify(exc)
            if kind is None:
                raise BedrockRequestError(str(exc)) from exc
            if sent_text or attempt >= policy.max_retries:
                error = BedrockThrottled if kind == "throttled" else BedrockUnavailable
                raise error(
                    f"the answer stream failed after {attempt + 1} attempts: {exc}"
                ) from exc
            await asyncio.sleep(policy.delay(attempt))
            attempt += 1
