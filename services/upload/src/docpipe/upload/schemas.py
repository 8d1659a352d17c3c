"""Request and response bodies of the upload API (they make up its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from docpipe.common.documents import Document

__all__ = [
    "DocumentPage",
    "Health",
    "PresignRequest",
    "PresignResponse",
    "PresignedUpload",
    "UploadedDocument",
    "UploadedDocuments",
]


class UploadedDocument(Document):
    duplicate: bool = Field(
        description="true: these bytes were already uploaded by this"
        " tenant; this is the existing document and nothing new is stored"
    )


class UploadedDocuments(BaseModel):
    documents: list[UploadedDocument]


class PresignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=4096)
    content_type: str = Field(
        min_length=1, max_length=255, examples=["application/pdf", "text/plain", "text/markdown"]
    )
    size_bytes: int = Field(gt=0, description="exact size of the file to upload")


class PresignedUpload(BaseModel):
    url: str = Field(description="POST a multipart form here")
    fields: dict[str, str] = Field(description="form fields to send before the file part")
    expires_at: datetime
    max_bytes: int


class PresignResponse(BaseModel):
    document: Document
    upload: PresignedUpload


class DocumentPage(BaseModel):
    documents: list[Document]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null on the last page"
    )


class Health(BaseModel):
    status: Literal["ok"]
