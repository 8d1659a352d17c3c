"""Processor settings (environment variables; see CommonSettings for the shared ones)."""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic import Field, model_validator

from docpipe.common.migrations import SERVICE_ROLES
from docpipe.common.settings import CommonSettings

__all__ = ["WORKER_RESERVE_MB", "ProcessorSettings"]

#: The worker's own memory besides extractions: interpreter, clients, the documents it
#: holds and their chunks and vectors (the ingestion benchmark measured ~300 MB for a
#: 1,000-page PDF). What a function's memory holds beyond it is for extractions.
WORKER_RESERVE_MB = 512


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

    # Concurrency within one invocation (docpipe.processor.concurrency): records of a batch
    # in progress at once; documents up to CONCURRENT_DOCUMENT_MAX_MB share them, larger
    # ones run alone; extractions at once (unset: what the function's memory holds).
    record_concurrency: int = Field(default=10, ge=1, le=100)
    concurrent_document_max_mb: int = Field(default=8, ge=1)
    extraction_concurrency: int | None = Field(default=None, ge=1, le=16)
    # One connection per record in flight: no record waits for another's connection, so an
    # unreachable database costs a batch one connect budget, not one per wave of records.
    database_pool_max: int = Field(default=10, ge=1)

    @property
    def extraction_allowance_mb(self) -> int:
        """Address space one extraction may add (the sandbox's caps)."""
        return self.extraction_memory_mb + (self.ocr_memory_mb if self.ocr_enabled else 0)

    @model_validator(mode="after")
    def _check_concurrency(self) -> ProcessorSettings:
        if self.record_concurrency > self.database_pool_max:
            raise ValueError(
                f"RECORD_CONCURRENCY ({self.record_concurrency}) exceeds DATABASE_POOL_MAX"
                f" ({self.database_pool_max}): each record in flight needs its own connection"
            )
        function_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        if self.extraction_concurrency is not None and function_mb.isdigit():
            needed = self.extraction_concurrency * self.extraction_allowance_mb + WORKER_RESERVE_MB
            if needed > int(function_mb):
                raise ValueError(
                    f"EXTRACTION_CONCURRENCY={self.extraction_concurrency} needs"
                    f" {self.extraction_concurrency} x {self.extraction_allowance_mb} MB"
                    f" (extraction and OCR allowances) + {WORKER_RESERVE_MB} MB for the worker,"
                    f" more than the function's {function_mb} MB"
                )
        return self
