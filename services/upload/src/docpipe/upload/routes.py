"""HTTP endpoints of the upload service (docs/api.md): thin wrappers over intake and service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import RedirectResponse

from docpipe.common.access import parse_access_json
from docpipe.common.documents import Document, DocumentStatus
from docpipe.common.exceptions import InvalidAccess as BadAccess
from docpipe.common.exceptions import InvalidMetadata as BadMetadata
from docpipe.common.metadata import parse_metadata_json
from docpipe.common.openapi import problem_responses
from docpipe.upload import intake, service
from docpipe.upload.deps import PoolDep, PrincipalDep, SettingsDep
from docpipe.upload.exceptions import InvalidAccess, InvalidMetadata
from docpipe.upload.multipart import FILE_FIELD, read_files
from docpipe.upload.schemas import (
    ContentLink,
    DocumentPage,
    DocumentPatch,
    Health,
    PresignedUpload,
    PresignRequest,
    PresignResponse,
    UploadedDocument,
    UploadedDocuments,
)
from docpipe.upload.validation import check_access

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
                        },
                        "metadata": {
                            "type": "string",
                            "description": "optional JSON object applied to every file of"
                            ' the request, e.g. {"department": "HR", "year": 2026}',
                        },
                        "access": {
                            "type": "string",
                            "description": "optional JSON array of group names applied to"
                            ' every file of the request, e.g. ["hr", "managers"]: only members'
                            " of one of them (and admins) see the documents; it must include"
                            " one of your groups. Omitted or []: everyone in the tenant",
                        },
                    },
                }
            }
        },
    }
}


def _form_metadata(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        return parse_metadata_json(text)
    except BadMetadata as exc:
        raise InvalidMetadata(str(exc)) from exc


def _form_access(text: str | None) -> list[str]:
    if text is None:
        return []
    try:
        return parse_access_json(text)
    except BadAccess as exc:
        raise InvalidAccess(str(exc)) from exc


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    return Health(status="ok")


@router.post(
    "/v1/documents",
    status_code=202,
    response_model=UploadedDocuments,
    tags=["documents"],
    openapi_extra=_MULTIPART_BODY,
    responses=problem_responses(400, 401, 413, 415, 422, 429, 503),
)
async def upload_documents(
    request: Request, settings: SettingsDep, reader: PrincipalDep, pool: PoolDep
) -> UploadedDocuments:
    """Store one or more files; processing happens asynchronously. Bytes the caller
    already uploaded (among the documents it sees) return that document, `duplicate: true`."""
    incoming = await read_files(
        request,
        max_body_bytes=settings.max_api_upload_bytes,
        max_file_bytes=settings.max_api_file_bytes,
        max_files=settings.max_files_per_request,
    )
    metadata = _form_metadata(incoming.fields.get("metadata"))
    access = check_access(reader, _form_access(incoming.fields.get("access")))
    files = intake.prepare_files(incoming.files)
    stored = await intake.store_files(
        pool=pool,
        settings=settings,
        reader=reader,
        files=files,
        metadata=metadata,
        access=access,
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
    responses=problem_responses(401, 413, 415, 422, 429, 503),
)
async def create_upload(
    body: PresignRequest, settings: SettingsDep, reader: PrincipalDep, pool: PoolDep
) -> PresignResponse:
    """A presigned S3 POST for files too large for the API (up to MAX_UPLOAD_BYTES). It
    can create this one document only; posting it again changes nothing."""
    document, post = await service.create_presigned_upload(
        pool=pool,
        settings=settings,
        reader=reader,
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        metadata=body.metadata,
        access=body.access,
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
    reader: PrincipalDep,
    pool: PoolDep,
    status: DocumentStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> DocumentPage:
    """The documents the caller sees, newest first, with keyset pagination."""
    documents, next_cursor = await service.list_page(
        pool=pool, reader=reader, limit=limit, status=status, cursor=cursor
    )
    return DocumentPage(documents=documents, next_cursor=next_cursor)


@router.get(
    "/v1/documents/{document_id}",
    response_model=Document,
    tags=["documents"],
    responses=problem_responses(401, 404, 422, 503),
)
async def get_document(document_id: uuid.UUID, reader: PrincipalDep, pool: PoolDep) -> Document:
    return await service.get_document(pool=pool, reader=reader, document_id=document_id)


@router.patch(
    "/v1/documents/{document_id}",
    response_model=Document,
    tags=["documents"],
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def update_document(
    document_id: uuid.UUID, body: DocumentPatch, reader: PrincipalDep, pool: PoolDep
) -> Document:
    """Replace the document's metadata and/or access; search and answers see it at once."""
    return await service.update_document(
        pool=pool,
        reader=reader,
        document_id=document_id,
        metadata=body.metadata,
        access=body.access,
    )


@router.get(
    "/v1/documents/{document_id}/content",
    status_code=307,
    response_model=ContentLink,
    tags=["documents"],
    responses={
        307: {"description": "redirect to a short-lived presigned GET of the original file"},
        200: {
            "description": "with `Accept: application/json`: the link itself (a browser's"
            " fetch cannot read a redirect's Location)",
            "model": ContentLink,
        },
        **problem_responses(401, 404, 409, 422, 503),
    },
)
async def document_content(
    document_id: uuid.UUID,
    settings: SettingsDep,
    reader: PrincipalDep,
    pool: PoolDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The original file, through a presigned S3 GET named as the user named it (inline, so
    a PDF link can add `#page=N`)."""
    link = await service.content_link(
        pool=pool, settings=settings, reader=reader, document_id=document_id
    )
    headers = {"Cache-Control": "no-store"}
    if accept and "application/json" in accept.lower():
        body = ContentLink(url=link.url, expires_at=link.expires_at)
        return Response(body.model_dump_json(), media_type="application/json", headers=headers)
    return RedirectResponse(link.url, status_code=307, headers=headers)


@router.delete(
    "/v1/documents/{document_id}",
    status_code=204,
    response_class=Response,
    tags=["documents"],
    responses=problem_responses(401, 404, 422, 503),
)
async def delete_document(
    document_id: uuid.UUID, settings: SettingsDep, reader: PrincipalDep, pool: PoolDep
) -> Response:
    """Delete the document, every version of its object, its chunks and vectors."""
    await service.remove_document(
        pool=pool, settings=settings, reader=reader, document_id=document_id
    )
    return Response(status_code=204)


@router.post(
    "/v1/documents/{document_id}/reprocess",
    status_code=202,
    response_model=Document,
    tags=["documents"],
    responses=problem_responses(401, 404, 409, 422, 429, 503),
)
async def reprocess_document(
    document_id: uuid.UUID, settings: SettingsDep, reader: PrincipalDep, pool: PoolDep
) -> Document:
    """Queue the document for processing again (not while awaiting upload or processing;
    at most QUOTA_REPROCESS_PER_DOCUMENT_PER_HOUR times an hour)."""
    return await service.reprocess_document(
        pool=pool, settings=settings, reader=reader, document_id=document_id
    )
