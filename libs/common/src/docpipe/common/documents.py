"""The ``documents`` row as the HTTP API shows it, and the S3 metadata of its object.

Shared so that every service renders a document the same way (the query service joins
documents for filenames; the processor reads the object metadata).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

__all__ = [
    "DOCUMENT_COLUMNS",
    "Document",
    "DocumentStatus",
    "document_from_row",
    "object_metadata",
]

DocumentStatus = Literal["awaiting_upload", "queued", "processing", "completed", "failed"]

DOCUMENT_COLUMNS = (
    "id, filename, content_type, size_bytes, sha256, status, page_count, chunk_count,"
    " error, warnings, metadata, access, created_at, updated_at, processed_at"
)


class Document(BaseModel):
    """A document as the API returns it (docs/api.md)."""

    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int = Field(ge=0)
    sha256: str | None = Field(description="hex SHA-256 of the bytes; null until uploaded")
    status: DocumentStatus
    page_count: int | None
    chunk_count: int | None
    error: str | None = Field(description="why processing failed, in words; null otherwise")
    warnings: list[str] = Field(
        default_factory=list,
        description="what the user should know about the extracted text (a repaired PDF,"
        " pages read with OCR or skipped, an encoding guessed…); empty when none",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="the caller's key-value pairs (strings, numbers, booleans, lists of"
        " strings), searchable with filters",
    )
    access: list[str] = Field(
        default_factory=list,
        description="the groups that may see the document (any one of them suffices);"
        " empty: everyone in the tenant",
    )
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None


def document_from_row(row: Mapping[str, Any]) -> Document:
    values = {name: row[name] for name in Document.model_fields}
    if isinstance(values["metadata"], str):  # asyncpg returns jsonb as text
        values["metadata"] = json.loads(values["metadata"])
    return Document.model_validate(values)


def object_metadata(*, document_id: uuid.UUID, tenant_id: str, filename: str) -> dict[str, str]:
    """S3 user metadata for a document object (values percent-encoded: S3 wants ASCII)."""
    return {
        "document-id": str(document_id),
        "tenant": quote(tenant_id, safe=""),
        "filename": quote(filename, safe=""),
    }
