"""Errors raised by embedders. Callers catch :class:`EmbeddingError` or a subclass."""

from __future__ import annotations

__all__ = [
    "EmbeddingConfigError",
    "EmbeddingError",
    "EmbeddingRequestError",
    "EmbeddingResponseError",
    "EmbeddingThrottled",
    "EmbeddingUnavailable",
]


class EmbeddingError(Exception):
    """Base class: the texts could not be embedded."""


class EmbeddingConfigError(EmbeddingError, ValueError):
    """The embedding settings are inconsistent (unknown model, wrong dimensions, missing extra)."""


class EmbeddingUnavailable(EmbeddingError):
    """The provider kept failing with transient errors (5xx, timeouts) until retries ran out."""


class EmbeddingThrottled(EmbeddingUnavailable):
    """The provider kept throttling (HTTP 429) until retries ran out; worth retrying later."""


class EmbeddingRequestError(EmbeddingError):
    """The provider rejected the request itself (validation, access denied); retrying won't help."""


class EmbeddingResponseError(EmbeddingError):
    """The provider answered with something that is not the expected embeddings."""
