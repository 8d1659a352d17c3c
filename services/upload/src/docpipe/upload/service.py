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
from typing import Any

import asyncpg
from botocore.exceptions import BotoCoreError, ClientError

from docpipe.common.access import can_see
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
    put_object,
)
from docpipe.upload import document_rows as rows
from docpipe.upload import quotas
from docpipe.upload.config import UploadSettings
from docpipe.upload.exceptions import (
    DocumentNotFound,
    FileTooLarge,
    InvalidAccess,
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
    "content_link",
    "create_presigned_upload",
    "get_document",
    "list_page",
    "prepare_files",
    "remove_document",
    "reprocess_document",
    "check_access",
    "store_files",
    "update_document",
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


def check_access(reader: Principal, access: list[str]) -> list[str]:
    """``access`` if the caller who sets it still sees the document, else InvalidAccess.

    A caller may restrict a document to groups, but not so far that it disappears from
    the caller itself (its own upload would then answer "no such document").
    """
    if not can_see(access, groups=reader.groups, admin=reader.admin):
        raise InvalidAccess(
            f"access {access} would hide the document from you: name at least one of your"
            " groups, or leave it empty (everyone in the tenant)"
        )
    return access


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
    *,
    pool: asyncpg.Pool,
    settings: UploadSettings,
    reader: Principal,
    files: list[PreparedFile],
    new: list[rows.NewDocument],
    metadata: dict[str, Any],
    access: list[str],
) -> list[StoredUpload]:
    """One transaction: the uploads-per-minute quota taken, the caller's existing
    documents with these bytes found, the rest inserted within the storage quotas (a
    request over quota is refused whole), in a few statements whatever the file count.

    Duplicates are looked for among the documents the caller sees (row-level security):
    a document of groups the caller is not in is never found, so never revealed; the
    upload becomes a document of its own.
    """
    stored: dict[int, StoredUpload] = {}
    for attempt in range(3):  # a conflicting row can vanish (deleted) between statements
        todo = [i for i in range(len(files)) if i not in stored]
        inserted: dict[uuid.UUID, Document] = {}
        async with tenant_transaction(pool, reader) as conn:
            if attempt == 0:  # every file counts against the rate, duplicates too
                await quotas.take_uploads(
                    conn, settings=settings, tenant_id=reader.tenant_id, files=len(files)
                )
            sha256s = sorted({files[i].sha256 for i in todo})
            existing = await rows.find_by_sha256s(conn, sha256s=sha256s, access=access)
            fresh = [i for i in todo if files[i].sha256 not in existing]
            if fresh:
                distinct = {files[i].sha256: len(files[i].data) for i in fresh}
                await quotas.check_storage(
                    conn,
                    settings=settings,
                    size_bytes=sum(distinct.values()),
                    documents=len(distinct),
                )
                inserted = await rows.insert_documents(
                    conn,
                    tenant_id=reader.tenant_id,
                    documents=[new[i] for i in fresh],
                    metadata=metadata,
                    access=access,
                )
                missing = sorted({files[i].sha256 for i in fresh if new[i].id not in inserted})
                if missing:  # the same bytes twice in the request, or a concurrent upload
                    existing |= await rows.find_by_sha256s(conn, sha256s=missing, access=access)
        for i in todo:
            if new[i].id in inserted:
                stored[i] = StoredUpload(document=inserted[new[i].id], duplicate=False)
            elif files[i].sha256 in existing:
                stored[i] = StoredUpload(document=existing[files[i].sha256], duplicate=True)
        if len(stored) == len(files):
            return [stored[i] for i in range(len(files))]
    raise StorageUnavailable("the document changed concurrently; retry the upload")


async def store_files(
    *,
    pool: asyncpg.Pool,
    settings: UploadSettings,
    reader: Principal,
    files: list[PreparedFile],
    metadata: dict[str, Any] | None = None,
    access: list[str] | None = None,
) -> list[StoredUpload]:
    """New queued documents and their objects, or the caller's existing ones with the same
    bytes (duplicates: their metadata and access are left as they were; change them with
    PATCH).

    The cost of a request grows little with its file count: one transaction finds the
    duplicates and inserts every new row, then the objects are written concurrently. A
    row whose object could not be written is deleted again and the request fails with
    :class:`StorageUnavailable`; the files stored meanwhile stay (a retry reports them as
    duplicates).
    """
    access = check_access(reader, access or [])
    tenant_id = reader.tenant_id
    new = _new_rows(settings=settings, tenant_id=tenant_id, files=files)
    stored = await _insert_or_find(
        pool=pool,
        settings=settings,
        reader=reader,
        files=files,
        new=new,
        metadata=metadata or {},
        access=access,
    )
    to_write = [(f, n) for f, n, s in zip(files, new, stored, strict=True) if not s.duplicate]
    outcomes = await asyncio.gather(
        *(_put(settings=settings, tenant_id=tenant_id, file=f, row=n) for f, n in to_write),
        return_exceptions=True,
    )
    failed = [n.id for (_, n), outcome in zip(to_write, outcomes, strict=True) if outcome]
    if failed:
        async with tenant_transaction(pool, reader) as conn:
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
    except _AWS_ERRORS as exc:
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
    except _AWS_ERRORS as exc:
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
    except _AWS_ERRORS as exc:
        async with tenant_transaction(pool, reader) as conn:
            await rows.restore_document(conn, previous=locked)
        raise StorageUnavailable("the ingest queue is unavailable; retry later") from exc
    return document
