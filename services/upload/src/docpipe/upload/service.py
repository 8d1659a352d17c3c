"""The upload service's operations: each keeps Postgres and S3/SQS consistent.

Rows are written before objects: S3 notifies the processor as soon as an object lands,
and the processor must find the document. When S3 or SQS fails, the row change is undone
and :class:`StorageUnavailable` is raised, so a retry starts from a clean state.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass

import asyncpg
from botocore.exceptions import BotoCoreError, ClientError

from docpipe.common.db import tenant_transaction
from docpipe.common.documents import Document, object_metadata
from docpipe.common.ingest import enqueue_document
from docpipe.common.keys import document_key
from docpipe.common.logging import get_logger
from docpipe.common.storage import (
    ObjectAccessDenied,
    ObjectInfo,
    ObjectMissing,
    PresignedPost,
    delete_object_versions,
    head_object,
    presigned_post,
    put_object,
)
from docpipe.upload import documents as rows
from docpipe.upload.config import UploadSettings
from docpipe.upload.exceptions import (
    DocumentNotFound,
    FileTooLarge,
    StateConflict,
    StorageAccessDenied,
    StorageUnavailable,
)
from docpipe.upload.multipart import IncomingFile
from docpipe.upload.pagination import decode_cursor, encode_cursor
from docpipe.upload.validation import check_content, check_declared_type, sanitize_filename

__all__ = [
    "PreparedFile",
    "StoredUpload",
    "create_presigned_upload",
    "get_document",
    "list_page",
    "prepare_files",
    "remove_document",
    "reprocess_document",
    "store_files",
]

_log = get_logger("docpipe.upload")
_AWS_ERRORS = (BotoCoreError, ClientError, OSError, asyncio.TimeoutError)
_NOT_REPROCESSABLE = ("awaiting_upload", "processing")


@dataclass(frozen=True)
class PreparedFile:
    filename: str
    content_type: str
    data: bytes
    sha256: str


@dataclass(frozen=True)
class StoredUpload:
    document: Document
    duplicate: bool


def prepare_files(files: list[IncomingFile]) -> list[PreparedFile]:
    """Validate every file before any is stored: one bad file rejects the request."""
    prepared = []
    for incoming in files:
        filename = sanitize_filename(incoming.filename)
        content_type = check_content(incoming.data, filename=filename)
        prepared.append(
            PreparedFile(
                filename=filename,
                content_type=content_type,
                data=incoming.data,
                sha256=hashlib.sha256(incoming.data).hexdigest(),
            )
        )
    return prepared


def _new_rows(
    *, settings: UploadSettings, tenant_id: str, files: list[PreparedFile]
) -> list[rows.NewDocument]:
    new = []
    for file in files:
        document_id = uuid.uuid4()
        key = document_key(
            uploads_prefix=settings.uploads_prefix, tenant_id=tenant_id, document_id=document_id
        )
        new.append(
            rows.NewDocument(
                id=document_id,
                filename=file.filename,
                content_type=file.content_type,
                size_bytes=len(file.data),
                sha256=file.sha256,
                storage_key=key,
            )
        )
    return new


async def _insert_or_find(
    *, pool: asyncpg.Pool, tenant_id: str, files: list[PreparedFile], new: list[rows.NewDocument]
) -> list[StoredUpload]:
    """One transaction: insert the new rows, look up the duplicates (two statements)."""
    stored: dict[int, StoredUpload] = {}
    for _ in range(3):  # a conflicting row can vanish (deleted) between the two statements
        todo = [i for i in range(len(files)) if i not in stored]
        async with tenant_transaction(pool, tenant_id) as conn:
            inserted = await rows.insert_documents(
                conn, tenant_id=tenant_id, documents=[new[i] for i in todo]
            )
            missing = [i for i in todo if new[i].id not in inserted]
            existing = await rows.find_by_sha256s(
                conn, sha256s=sorted({files[i].sha256 for i in missing})
            )
        for i in todo:
            if new[i].id in inserted:
                stored[i] = StoredUpload(document=inserted[new[i].id], duplicate=False)
            elif files[i].sha256 in existing:
                stored[i] = StoredUpload(document=existing[files[i].sha256], duplicate=True)
        if len(stored) == len(files):
            return [stored[i] for i in range(len(files))]
    raise StorageUnavailable("the document changed concurrently; retry the upload")


async def store_files(
    *, pool: asyncpg.Pool, settings: UploadSettings, tenant_id: str, files: list[PreparedFile]
) -> list[StoredUpload]:
    """New queued documents and their objects, or the tenant's existing ones (duplicates).

    The cost of a request grows little with its file count: one transaction inserts
    every new row and finds the duplicates, then the objects are written concurrently.
    A row whose object could not be written is deleted again and the request fails with
    :class:`StorageUnavailable`; the files stored meanwhile stay (a retry reports them as
    duplicates).
    """
    new = _new_rows(settings=settings, tenant_id=tenant_id, files=files)
    stored = await _insert_or_find(pool=pool, tenant_id=tenant_id, files=files, new=new)
    to_write = [(f, n) for f, n, s in zip(files, new, stored, strict=True) if not s.duplicate]
    outcomes = await asyncio.gather(
        *(_put(settings=settings, tenant_id=tenant_id, file=f, row=n) for f, n in to_write),
        return_exceptions=True,
    )
    failed = [n.id for (_, n), outcome in zip(to_write, outcomes, strict=True) if outcome]
    if failed:
        async with tenant_transaction(pool, tenant_id) as conn:
            await rows.delete_documents(conn, document_ids=failed)
        cause = next(o for o in outcomes if isinstance(o, BaseException))
        if not isinstance(cause, _AWS_ERRORS):
            raise cause
        raise StorageUnavailable("the document store is unavailable; retry later") from cause
    return stored


async def _put(
    *, settings: UploadSettings, tenant_id: str, file: PreparedFile, row: rows.NewDocument
) -> None:
    metadata = object_metadata(document_id=row.id, tenant_id=tenant_id, filename=file.filename)
    await put_object(
        settings=settings,
        key=row.storage_key,
        data=file.data,
        content_type=file.content_type,
        metadata=metadata,
    )


async def create_presigned_upload(
    *,
    pool: asyncpg.Pool,
    settings: UploadSettings,
    tenant_id: str,
    filename: str,
    content_type: str,
    size_bytes: int,
) -> tuple[Document, PresignedPost]:
    """An ``awaiting_upload`` document and a POST form for exactly its key and size."""
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
    except _AWS_ERRORS as exc:
        raise StorageUnavailable("could not sign the upload; retry later") from exc
    async with tenant_transaction(pool, tenant_id) as conn:
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
        )
    assert document is not None  # no sha256, so no duplicate conflict
    return document, post


async def get_document(*, pool: asyncpg.Pool, tenant_id: str, document_id: uuid.UUID) -> Document:
    async with tenant_transaction(pool, tenant_id, readonly=True) as conn:
        document = await rows.get_document(conn, document_id=document_id)
    if document is None:
        raise DocumentNotFound(f"no document {document_id}")
    return document


async def list_page(
    *, pool: asyncpg.Pool, tenant_id: str, limit: int, status: str | None, cursor: str | None
) -> tuple[list[Document], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last)."""
    after = decode_cursor(cursor) if cursor else None
    async with tenant_transaction(pool, tenant_id, readonly=True) as conn:
        found = await rows.list_documents(conn, limit=limit + 1, status=status, after=after)
    page = found[:limit]
    return page, (encode_cursor(page[-1]) if len(found) > limit else None)


async def remove_document(
    *, pool: asyncpg.Pool, settings: UploadSettings, tenant_id: str, document_id: uuid.UUID
) -> None:
    """Delete every object version, then the row, its chunks and orphaned cache entries.

    The row stays locked while S3 is emptied; if S3 fails the transaction rolls back and
    the delete can simply be retried.
    """
    async with tenant_transaction(pool, tenant_id) as conn:
        locked = await rows.lock_document(conn, document_id=document_id)
        if locked is None:
            raise DocumentNotFound(f"no document {document_id}")
        try:
            await delete_object_versions(settings=settings, key=locked.storage_key)
        except _AWS_ERRORS as exc:
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
    except _AWS_ERRORS as exc:
        raise StorageUnavailable("the document store is unavailable; retry later") from exc


async def reprocess_document(
    *, pool: asyncpg.Pool, settings: UploadSettings, tenant_id: str, document_id: uuid.UUID
) -> Document:
    """Queue the document again by sending its S3 notification to the ingest queue."""
    async with tenant_transaction(pool, tenant_id) as conn:
        locked = await rows.lock_document(conn, document_id=document_id)
        if locked is None:
            raise DocumentNotFound(f"no document {document_id}")
        if locked.document.status in _NOT_REPROCESSABLE:
            raise StateConflict(f"the document is {locked.document.status}; try again later")
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
    except _AWS_ERRORS as exc:
        async with tenant_transaction(pool, tenant_id) as conn:
            await rows.restore_document(conn, previous=locked)
        raise StorageUnavailable("the ingest queue is unavailable; retry later") from exc
    return document
