"""Request and response bodies of the upload API (they make up its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from docpipe.common.access import Access
from docpipe.common.documents import Document
from docpipe.common.metadata import Metadata

__all__ = [
    "ContentLink",
    "DocumentPage",
    "DocumentPatch",
    "Health",
    "PresignRequest",
    "PresignResponse",
    "PresignedUpload",
    "UploadedDocument",
    "UploadedDocuments",
]


class UploadedDocument(Document):
    duplicate: bool = Field(
        description="true: these bytes were already uploaded in this tenant, as a document"
        " you can see; this is that document (its metadata and access unchanged) and"
        " nothing new is stored"
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
    metadata: Metadata | None = Field(default=None, description="the document's metadata")
    access: Access | None = Field(
        default=None,
        description="groups that may see the document (one of yours at least); omitted or"
        " []: everyone in the tenant",
        examples=[["hr"]],
    )


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


class DocumentPatch(BaseModel):
    """Fields to replace; each one present replaces the old value entirely."""

    model_config = ConfigDict(extra="forbid")

    metadata: Metadata | None = Field(
        default=None,
        description="replaces the metadata ({} clears it); searchable at once",
        examples=[{"department": "HR", "year": 2026, "tags": ["leave", "policy"]}],
    )
    access: Access | None = Field(
        default=None,
        description="replaces the groups that may see the document ([] opens it to everyone"
        " in the tenant); it must keep one of your groups unless you are an admin. Search"
        " and answers follow at once",
        examples=[["hr", "managers"]],
    )

    @model_validator(mode="after")
    def _something(self) -> DocumentPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change (metadata, access)")
        for name in ("metadata", "access"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name}: send a value ({{}} or [] clears it), not null")
        return self


class ContentLink(BaseModel):
    url: str = Field(description="presigned GET of the original file; open it directly")
    expires_at: datetime


class Health(BaseModel):
    status: Literal["ok"]
