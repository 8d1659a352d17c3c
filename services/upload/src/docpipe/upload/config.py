"""Upload service settings (environment variables; see ARCHITECTURE §4 and §11)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from docpipe.common.settings import CommonSettings

__all__ = ["UploadSettings"]

MIB = 1024 * 1024


class UploadSettings(CommonSettings):
    """``MAX_UPLOAD_BYTES`` caps any document (presigned POST included);
    ``MAX_API_UPLOAD_BYTES`` caps a whole multipart request body through the API.

    The API cap defaults to 4 MiB: Lambda refuses synchronous payloads over 6 MB, and API
    Gateway hands binary bodies to Lambda base64-encoded (4/3 larger) inside the event.
    Larger files take the presigned POST flow.
    """

    max_upload_bytes: int = Field(default=50 * MIB, ge=1)
    max_api_upload_bytes: int = Field(default=4 * MIB, ge=1024)
    max_files_per_request: int = Field(default=10, ge=1, le=100)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ingest_queue_url: str  # reprocess sends S3-shaped messages here
    presign_expires_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _check_limits(self) -> UploadSettings:
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ValueError("CORS_ORIGINS: '*' cannot be combined with other origins")
        return self

    @property
    def max_api_file_bytes(self) -> int:
        """The largest single file the multipart API path can accept."""
        return min(self.max_upload_bytes, self.max_api_upload_bytes)
