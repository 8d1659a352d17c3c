"""The upload service's operations: each keeps Postgres and S3/SQS consistent.

Rows are written before objects: S3 notifies the processor as soon as an object lands,
and the processor must find the document. When S3 or SQS fails, the row change is undone
and :class:`StorageUnavailable` is raised, so a retry starts from a clean state. A
multi-file upload is :mod:`docpipe.upload.intake`; the single-document operations are here.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from docpipe.common.auth import Principal
from docpipe.common.db import tenant_transaction
from docpipe.common.documents import Document, object_metadata
from docpipe.common.exceptions import ObjectAccessDenied, ObjectMissing
from docpipe.common.ingest import enqueue_document
from docpipe.common.keys import document_key
from docpipe.common.logging import get_logger
from docpipe.common.storage import (
    ObjectInfo,
    PresignedGet,
    PresignedPost,
    delete_object_versions,
    head_object,
    presigned_get,
    presigned_post,
)
from docpipe.upload import document_rows as rows
from docpipe.upload import quotas
from docpipe.upload.config import UploadSettings
from docpipe.upload.exceptions import (
    AWS_ERRORS,
    DocumentNotFound,
    FileTooLarge,
    StateConflict,
    StorageAccessDenied,
    StorageUnavailable,
)
from docpipe.upload.pagination import decode_cursor, encode_cursor
from docpipe.upload.validation import (
    check_access,
    check_declared_type,
    sanitize_filename,
)

__all__ = [
    "content_link",
    "create_presigned_upload",
    "get_document",
    "list_page",
    "remove_document",
    "reprocess_document",
    "update_document",
]

_log = get_logger("docpipe.upload")
_NOT_REPROCESSABLE = ("awaiting_upload", "processing")


async def create_presigned_upload(
    *,
    pool: asyncpg.Pool,
    settings: UploadSettings,
    reader: Principal,
    filename: str,
    content_type: str,
    size_bytes: int,
    metadata: dict[str, Any] | None = None,
    access: list[str] | None = None,
) -> tuple[Document, PresignedPost]:
    """An ``awaiting_upload`` document and a POST form for exactly its key and size.

    The form can create no other document (the key is this document's), and a second use
    of it changes nothing: the processor keeps the object version it first processed and
    deletes any other (docpipe.processor.pipeline), and deletes an object whose document
    is gone.
    """
    tenant_id = reader.tenant_id
    access = check_access(reader, access or [])
    if size_bytes > settings.max_upload_bytes:
        raise FileTooLarge(f"size_bytes exceeds the {settings.max_upload_bytes}-byte limit")
    clean_name = sanitize_filename(filename)
    declared_type = check_declared_type(content_type)
    document_id = uuid.uuid4()
    key = document_key(
        uploads_prefix=settings.uploads_prefix, tenant_id=tenant_id, document_id=document_id
    )
    try:  # signing is local: do it first, so a failure leaves no row behind
        post = await presigned_post(
            settings=settings,
            key=key,
            max_bytes=size_bytes,
            metadata=object_metadata(
                document_id=document_id, tenant_id=tenant_id, filename=clean_name
            ),
            expires_in=settings.presign_expires_seconds,
        )
    except AWS_ERRORS as exc:
        raise StorageUnavailable("could not sign the upload; retry later") from exc
    async with tenant_transaction(pool, reader) as conn:
        await quotas.take_uploads(conn, settings=settings, tenant_id=tenant_id, files=1)
        await quotas.check_storage(conn, settings=settings, size_bytes=size_bytes)
        document = await rows.insert_document(
            conn,
            document_id=document_id,
            tenant_id=tenant_id,
            filename=clean_name,
            content_type=declared_type,
            size_bytes=size_bytes,
            sha256=None,
            storage_key=key,
            status="awaiting_upload",
            metadata=metadata,
            access=access,
        )
    assert document is not None  # no sha256, so no duplicate conflict
    return document, post


async def get_document(
    *, pool: asyncpg.Pool, reader: Principal, document_id: uuid.UUID
) -> Document:
    async with tenant_transaction(pool, reader, readonly=True) as conn:
        document = await rows.get_document(conn, document_id=document_id)
    if document is None:
        raise DocumentNotFound(f"no document {document_id}")
    return document


async def update_document(
    *,
    pool: asyncpg.Pool,
    reader: Principal,
    document_id: uuid.UUID,
    metadata: dict[str, Any] | None = None,
    access: list[str] | None = None,
) -> Document:
    """Replace the metadata and/or access; search and answers see it at once (filters
    join documents; chunks take the new access in the same transaction)."""
    if access is not None:
        check_access(reader, access)
    async with tenant_transaction(pool, reader) as conn:
        if access is not None:
            twin = await rows.find_twin(conn, document_id=document_id, access=access)
            if twin is not None:
                raise StateConflict(
                    f"document {twin} has the same content and this access list; delete one"
                )
        try:
            document = await rows.update_document(
                conn, document_id=document_id, metadata=metadata, access=access
            )
        except asyncpg.UniqueViolationError as exc:  # a twin took this access meanwhile
            raise StateConflict(
                "another document has the same content and this access list; delete one"
            ) from exc
    if document is None:
        raise DocumentNotFound(f"no document {document_id}")
    return document


async def content_link(
    *, pool: asyncpg.Pool, settings: UploadSettings, reader: Principal, document_id: uuid.UUID
) -> PresignedGet:
    """A short-lived presigned GET of the original file, named as the user named it."""
    async with tenant_transaction(pool, reader, readonly=True) as conn:
        locked = await rows.get_stored(conn, document_id=document_id)
    if locked is None:
        raise DocumentNotFound(f"no document {document_id}")
    if locked.document.status == "awaiting_upload":
        raise StateConflict("the file has not been uploaded yet")
    try:
        return await presigned_get(
            settings=settings,
            key=locked.storage_key,
            filename=locked.document.filename,
            content_type=locked.document.content_type,
            expires_in=settings.content_url_expires_seconds,
        )
    except AWS_ERRORS as exc:
        raise StorageUnavailable("could not sign the download; retry later") from exc


async def list_page(
    *, pool: asyncpg.Pool, reader: Principal, limit: int, status: str | None, cursor: str | None
) -> tuple[list[Document], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last)."""
    after = decode_cursor(cursor) if cursor else None
    async with tenant_transaction(pool, reader, readonly=True) as conn:
        found = await rows.list_documents(conn, limit=limit + 1, status=status, after=after)
    page = found[:limit]
    return page, (encode_cursor(page[-1]) if len(found) > limit else None)


async def remove_document(
    *, pool: asyncpg.Pool, settings: UploadSettings, reader: Principal, document_id: uuid.UUID
) -> None:
    """Delete every object version, then the row, its chunks and orphaned cache entries.

    The row stays locked while S3 is emptied; if S3 fails the transaction rolls back and
    the delete can simply be retried.
    """
    async with tenant_transaction(pool, reader) as conn:
        locked = await rows.lock_document(conn, document_id=document_id)
        if locked is None:
            raise DocumentNotFound(f"no document {document_id}")
        try:
            await delete_object_versions(settings=settings, key=locked.storage_key)
        except AWS_ERRORS as exc:
            raise StorageUnavailable("the document store is unavailable; retry later") from exc
        await rows.delete_document(conn, document_id=document_id)


async def _current_object(settings: UploadSettings, key: str) -> ObjectInfo:
    try:
        return await head_object(settings=settings, key=key)
    except ObjectMissing as exc:
        raise StateConflict("the stored file is missing; upload the document again") from exc
    except ObjectAccessDenied as exc:
        _log.error(
            "S3 denied the upload service reading a document's object: its IAM role likely"
            " lacks s3:GetObject on the uploads prefix, or s3:ListBucket there (without it"
            " S3 answers 403, not 404, for a deleted object too)",
            extra={"key": key, "s3_code": exc.code, "s3_message": exc.aws_message},
        )
        raise StorageAccessDenied(
            "the document store denied this service access; retry later"
        ) from exc
    except AWS_ERRORS as exc:
        raise StorageUnavailable("the document store is unavailable; retry later") from exc


async def reprocess_document(
    *, pool: asyncpg.Pool, settings: UploadSettings, reader: Principal, document_id: uuid.UUID
) -> Document:
    """Queue the document again by sending its S3 notification to the ingest queue
    (within the tenant's reprocess-per-document quota)."""
    async with tenant_transaction(pool, reader) as conn:
        locked = await rows.lock_document(conn, document_id=document_id)
        if locked is None:
            raise DocumentNotFound(f"no document {document_id}")
        if locked.document.status in _NOT_REPROCESSABLE:
            raise StateConflict(f"the document is {locked.document.status}; try again later")
        await quotas.take_reprocess(
            conn, settings=settings, tenant_id=reader.tenant_id, document_id=document_id
        )
        obj = await _current_object(settings, locked.storage_key)
        document = await rows.requeue_document(conn, document_id=document_id)
    assert document is not None  # the row was locked and its status checked
    try:  # after commit: the processor must see 'queued' and no processed_version
        await enqueue_document(
            settings=settings,
            queue_url=settings.ingest_queue_url,
            key=obj.key,
            size=obj.size,
            version_id=obj.version_id,
            etag=obj.etag,
            sender="docpipe-upload",
        )
    except AWS_ERRORS as exc:
        async with tenant_transaction(pool, reader) as conn:
            await rows.restore_document(conn, previous=locked)
        raise StorageUnavailable("the ingest queue is unavailable; retry later") from exc
    return document
