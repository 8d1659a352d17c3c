"""A multi-file upload: every file validated first, then one transaction for the rows
(duplicates, quotas), then the objects written concurrently.

Rows are written before objects (see :mod:`docpipe.upload.service`); a row whose object
could not be written is deleted again.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from docpipe.common.auth import Principal
from docpipe.common.db import tenant_transaction
from docpipe.common.documents import Document, object_metadata
from docpipe.common.keys import document_key
from docpipe.common.storage import put_object
from docpipe.upload import document_rows as rows
from docpipe.upload import quotas
from docpipe.upload.config import UploadSettings
from docpipe.upload.exceptions import AWS_ERRORS, StorageUnavailable
from docpipe.upload.multipart import IncomingFile
from docpipe.upload.validation import check_content, sanitize_filename

__all__ = ["PreparedFile", "StoredUpload", "prepare_files", "store_files"]


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
    duplicates). ``access`` is the request's list as
    :func:`~docpipe.upload.validation.check_access` returned it (the route checks it before
    the files, so that error comes first).
    """
    access = access or []
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
        if not isinstance(cause, AWS_ERRORS):
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
