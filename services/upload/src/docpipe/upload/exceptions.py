"""Named failures of the upload domain; routes map them to problem+json statuses."""

from __future__ import annotations

import asyncio

from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "AWS_ERRORS",
    "DocumentNotFound",
    "EmptyFile",
    "FileTooLarge",
    "InvalidCursor",
    "InvalidFilename",
    "InvalidMetadata",
    "InvalidAccess",
    "MalformedUpload",
    "QuotaExceeded",
    "StateConflict",
    "StorageAccessDenied",
    "StorageUnavailable",
    "TooManyFiles",
    "UnsupportedType",
    "UploadError",
]

#: What an S3 or SQS call raises when the service cannot reach or use them (caught and
#: turned into :class:`StorageUnavailable`).
AWS_ERRORS = (BotoCoreError, ClientError, OSError, asyncio.TimeoutError)


class UploadError(Exception):
    """Base class; ``str(exc)`` is a message fit for the client."""


class MalformedUpload(UploadError):
    """The request body is not the multipart form the API expects (400)."""


class InvalidCursor(UploadError):
    """A pagination cursor this service did not issue (400)."""


class FileTooLarge(UploadError):
    """A file or the request body exceeds its configured cap (413)."""


class UnsupportedType(UploadError):
    """The bytes are not a PDF, UTF-8 text or Markdown (415)."""


class EmptyFile(UploadError):
    """A file with no bytes (422)."""


class InvalidFilename(UploadError):
    """Nothing usable remains of the filename once sanitised (422)."""


class InvalidMetadata(UploadError):
    """The ``metadata`` form field is not a valid metadata object (422)."""


class InvalidAccess(UploadError):
    """An ``access`` list that is invalid, or that would hide the document from the caller
    who sets it (422)."""


class QuotaExceeded(UploadError):
    """The tenant is over one of its quotas (429 with ``Retry-After``); nothing was done."""

    def __init__(self, detail: str, *, quota: str, limit: int, retry_after: int) -> None:
        super().__init__(detail)
        self.quota, self.limit, self.retry_after = quota, limit, retry_after


class TooManyFiles(UploadError):
    """More file parts than MAX_FILES_PER_REQUEST (422)."""


class DocumentNotFound(UploadError):
    """No such document for this tenant (404; another tenant's id looks the same)."""


class StateConflict(UploadError):
    """The document's status does not allow the operation (409)."""


class StorageUnavailable(UploadError):
    """S3 or SQS failed; nothing was left half-done (503)."""


class StorageAccessDenied(StorageUnavailable):
    """S3 refused this service's role a read (403): misconfigured IAM, not the document.

    503 like any unavailable dependency: the request works again once the role is fixed.
    """
