"""HTTP endpoints of the upload service (ARCHITECTURE §4): thin wrappers over service.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from docpipe.common.documents import Document, DocumentStatus
from docpipe.common.openapi import problem_responses
from docpipe.upload import service
from docpipe.upload.deps import PoolDep, SettingsDep, TenantDep
from docpipe.upload.multipart import FILE_FIELD, read_files
from docpipe.upload.schemas import (
    DocumentPage,
    Health,
    PresignedUpload,
    PresignRequest,
    PresignResponse,
    UploadedDocument,
    UploadedDocuments,
)

__all__ = ["router"]

router = APIRouter()

_MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "one part per file: PDF, UTF-8 text or Markdown",
                        }
                    },
                }
            }
        },
    }
}


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    return Health(status="ok")


@router.post(
    "/v1/documents",
    status_code=202,
    response_model=UploadedDocuments,
    tags=["documents"],
    openapi_extra=_MULTIPART_BODY,
    responses=problem_responses(400, 401, 413, 415, 422, 503),
)
async def upload_documents(
    request: Request, settings: SettingsDep, tenant: TenantDep, pool: PoolDep
) -> UploadedDocuments:
    """Store one or more files; processing happens asynchronously."""
    incoming = await read_files(
        request,
        max_body_bytes=settings.max_api_upload_bytes,
        max_file_bytes=settings.max_api_file_bytes,
        max_files=settings.max_files_per_request,
    )
    stored = await service.store_files(
        pool=pool, settings=settings, tenant_id=tenant, files=service.prepare_files(incoming)
    )
    return UploadedDocuments(
        documents=[
            UploadedDocument(**s.document.model_dump(), duplicate=s.duplicate) for s in stored
        ]
    )


@router.post(
    "/v1/uploads",
    status_code=201,
    response_model=PresignResponse,
    tags=["documents"],
    responses=problem_responses(401, 413, 415, 422, 503),
)
async def create_upload(
    body: PresignRequest, settings: SettingsDep, tenant: TenantDep, pool: PoolDep
) -> PresignResponse:
    """A presigned S3 POST for files too large for the API (up to MAX_UPLOAD_BYTES)."""
    document, post = await service.create_presigned_upload(
        pool=pool,
        settings=settings,
        tenant_id=tenant,
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
    )
    return PresignResponse(
        document=document,
        upload=PresignedUpload(
            url=post.url,
            fields=post.fields,
            expires_at=post.expires_at,
            max_bytes=post.max_bytes,
        ),
    )


@router.get(
    "/v1/documents",
    response_model=DocumentPage,
    tags=["documents"],
    responses=problem_responses(400, 401, 422, 503),
)
async def list_documents(
    tenant: TenantDep,
    pool: PoolDep,
    status: DocumentStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> DocumentPage:
    """The caller's documents, newest first, with keyset pagination."""
    documents, next_cursor = await service.list_page(
        pool=pool, tenant_id=tenant, limit=limit, status=status, cursor=cursor
    )
    return DocumentPage(documents=documents, next_cursor=next_cursor)


@router.get(
    "/v1/documents/{document_id}",
    response_model=Document,
    tags=["documents"],
    responses=problem_responses(401, 404, 422, 503),
)
async def get_document(document_id: uuid.UUID, tenant: TenantDep, pool: PoolDep) -> Document:
    return await service.get_document(pool=pool, tenant_id=tenant, document_id=document_id)


@router.delete(
    "/v1/documents/{document_id}",
    status_code=204,
    response_class=Response,
    tags=["documents"],
    responses=problem_responses(401, 404, 422, 503),
)
async def delete_document(
    document_id: uuid.UUID, settings: SettingsDep, tenant: TenantDep, pool: PoolDep
) -> Response:
    """Delete the document, every version of its object, its chunks and vectors."""
    await service.remove_document(
        pool=pool, settings=settings, tenant_id=tenant, document_id=document_id
    )
    return Response(status_code=204)


@router.post(
    "/v1/documents/{document_id}/reprocess",
    status_code=202,
    response_model=Document,
    tags=["documents"],
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def reprocess_document(
    document_id: uuid.UUID, settings: SettingsDep, tenant: TenantDep, pool: PoolDep
) -> Document:
    """Queue the document for processing again (not while awaiting upload or processing)."""
    return await service.reprocess_document(
        pool=pool, settings=settings, tenant_id=tenant, document_id=document_id
    )
