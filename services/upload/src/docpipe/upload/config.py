"""Upload service settings (environment variables; see docs/configuration.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from docpipe.common.migrations import SERVICE_ROLES
from docpipe.common.settings import HttpServiceSettings

__all__ = ["UploadSettings"]

MIB = 1024 * 1024


class UploadSettings(HttpServiceSettings):
    """``MAX_UPLOAD_BYTES`` caps any document (presigned POST included);
    ``MAX_API_UPLOAD_BYTES`` caps a whole multipart request body through the API.

    The API cap defaults to 4 MiB: Lambda refuses synchronous payloads over 6 MB, and API
    Gateway hands binary bodies to Lambda base64-encoded (4/3 larger) inside the event.
    Larger files take the presigned POST flow.
    """

    database_role: ClassVar[str | None] = SERVICE_ROLES["upload"]

    max_upload_bytes: int = Field(default=50 * MIB, ge=1)
    max_api_upload_bytes: int = Field(default=4 * MIB, ge=1024)
    max_files_per_request: int = Field(default=10, ge=1, le=100)
    ingest_queue_url: str  # reprocess sends S3-shaped messages here
    presign_expires_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # GET /v1/documents/{id}/content: how long the presigned download link works.
    content_url_expires_seconds: int = Field(default=300, ge=10, le=12 * 3600)

    # Per-tenant quotas (docpipe.upload.quotas): these defaults, unless the tenant's row in
    # tenant_quotas says otherwise. 0 means no limit. Over a quota: 429 with Retry-After.
    quota_max_documents: int = Field(default=100_000, ge=0)
    quota_max_stored_bytes: int = Field(default=50 * 1024 * MIB, ge=0)
    quota_uploads_per_minute: int = Field(default=120, ge=0)
    quota_reprocess_per_document_per_hour: int = Field(default=3, ge=0)

    @property
    def max_api_file_bytes(self) -> int:
        """The largest single file the multipart API path can accept."""
        return min(self.max_upload_bytes, self.max_api_upload_bytes)
