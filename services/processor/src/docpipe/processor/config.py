"""Processor settings (environment variables; see CommonSettings for the shared ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from docpipe.common.migrations import SERVICE_ROLES
from docpipe.common.settings import CommonSettings

__all__ = ["ProcessorSettings"]


class ProcessorSettings(CommonSettings):
    database_role: ClassVar[str | None] = SERVICE_ROLES["processor"]
    serves_http: ClassVar[bool] = False  # no HTTP surface: AUTH_MODE does not apply

    # Where recovered documents are sent again (optional: S3 notifications need none of it).
    ingest_queue_url: str | None = None
    max_document_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Attempts per document; keep equal to the queue's maxReceiveCount.
    max_attempts: int = Field(default=5, ge=1)
    # A claim older than this is considered abandoned (worker died); keep >= Lambda timeout.
    processing_lease_seconds: int = Field(default=900, ge=5)
    extraction_timeout_seconds: float = Field(default=120.0, gt=0)
    extraction_memory_mb: int = Field(default=1024, ge=64)
    max_pages: int = Field(default=2000, ge=1)
    # Scanned PDF pages (no text layer) are read with OCR (RapidOCR, models in its wheel).
    ocr_enabled: bool = True
    ocr_dpi: int = Field(default=200, ge=72, le=600)
    ocr_max_pages: int = Field(default=200, ge=0)
    ocr_memory_mb: int = Field(default=1024, ge=0)
    # Office files are ZIP archives: refuse those that would unpack beyond this.
    max_unzipped_mb: int = Field(default=512, ge=1)
    max_spreadsheet_cells: int = Field(default=2_000_000, ge=1)
    chunk_target_chars: int = Field(default=1200, ge=100)
    chunk_overlap_chars: int = Field(default=200, ge=0)
    # Texts embedded (and cached) per group, so one failed batch never costs the whole document.
    embedding_group_size: int = Field(default=384, ge=1)
