"""Upload service settings (environment variables; see ARCHITECTURE §4 and §11)."""

from __future__ import annotations

from pydantic import Field

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

    max_upload_bytes: int = Field(default=50 * MIB, ge=1)
    max_api_upload_bytes: int = Field(default=4 * MIB, ge=1024)
    max_files_per_request: int = Field(default=10, ge=1, le=100)
    ingest_queue_url: str  # reprocess sends S3-shaped messages here
    presign_expires_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # GET /v1/documents/{id}/content: how long the presigned download link works.
    content_url_expires_seconds: int = Field(default=300, ge=10, le=12 * 3600)

    @property
    def max_api_file_bytes(self) -> int:
        """The largest single file the multipart API path can accept."""
        return min(self.max_upload_bytes, self.max_api_upload_bytes)
