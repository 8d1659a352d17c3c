"""Every exception of :mod:`docpipe.common`, in one place.

Callers catch a family: :class:`BedrockError`, :class:`DatabaseUnavailable` (the HTTP
services answer 503 with ``Retry-After``, the processor gives its messages back to SQS;
:mod:`docpipe.common.db_errors` says which driver errors mean it), :class:`EmbeddingError`.
``str()`` of the request errors (:class:`InvalidAccess`, :class:`InvalidMetadata`,
:class:`ProblemError`) is fit for a client; :class:`ProblemError` is rendered as
problem+json by :func:`docpipe.common.web.install_common`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "BedrockError",
    "BedrockRequestError",
    "BedrockThrottled",
    "BedrockUnavailable",
    "DatabaseConnectionLost",
    "DatabaseUnavailable",
    "DatabaseUnreachable",
    "EmbeddingConfigError",
    "EmbeddingError",
    "EmbeddingRequestError",
    "EmbeddingResponseError",
    "EmbeddingThrottled",
    "EmbeddingUnavailable",
    "InvalidAccess",
    "InvalidKey",
    "InvalidMetadata",
    "MigrationError",
    "ObjectAccessDenied",
    "ObjectMissing",
    "ObjectTooLarge",
    "ProblemError",
]


class AuthError(Exception):
    """The request carries no acceptable credentials (HTTP 401)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ProblemError(Exception):
    """Raised by routes and dependencies; rendered as problem+json."""

    def __init__(self, status: int, detail: str, *, type_: str = "about:blank", **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.type, self.extra = status, detail, type_, extra


class InvalidAccess(ValueError):
    """An ``access`` value that is not a list of valid group names (HTTP 422)."""


class InvalidMetadata(ValueError):
    """``str()`` says what is wrong, naming the key (HTTP 422)."""


class InvalidKey(ValueError):
    """An object key that is not a docpipe document key."""


class ObjectMissing(LookupError):
    """The object (or the requested version) does not exist."""


class ObjectAccessDenied(PermissionError):
    """S3 refused this service's credentials the read (HTTP 403): an IAM problem.

    ``str()`` is safe to show a user (no ARN, account id or key); ``code`` and
    ``aws_message`` (which may name the role's ARN) are for operators' logs.
    """

    def __init__(self, key: str, *, code: str, aws_message: str) -> None:
        super().__init__(
            "the document store denied this service access to the stored file"
            " (a permissions problem on our side, not in the document)"
        )
        self.key = key
        self.code = code
        self.aws_message = aws_message


class ObjectTooLarge(ValueError):
    """The object is larger than the caller's cap; it was not downloaded."""


class BedrockError(Exception):
    """Base class for Bedrock runtime failures after our retry policy."""


class BedrockUnavailable(BedrockError):
    """Transient errors (5xx, timeouts, connection) persisted through every retry."""


class BedrockThrottled(BedrockUnavailable):
    """Throttling (HTTP 429) persisted through every retry."""


class BedrockRequestError(BedrockError):
    """Bedrock rejected the request (validation, access, unknown model): not retried."""


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


class DatabaseUnavailable(Exception):
    """The database cannot serve the request now; the same request may succeed later."""


class DatabaseUnreachable(DatabaseUnavailable):
    """No connection could be opened within the connect budget (or ever, as configured)."""


class DatabaseConnectionLost(DatabaseUnavailable):
    """An open connection broke, or stopped answering, in the middle of the work."""


class MigrationError(RuntimeError):
    """A migration cannot be applied safely."""
