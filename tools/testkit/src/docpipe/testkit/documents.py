"""Documents as the upload service leaves them: a row in Postgres and its S3 object.

Processor tests start from here (with S3 notifications not involved) and deliver the
object's event themselves.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from docpipe.common.keys import document_key
from docpipe.testkit.events import s3_record

__all__ = ["StoredDoc", "put_document"]


@dataclass(frozen=True)
class StoredDoc:
    id: uuid.UUID
    key: str
    version: str
    tenant: str

    def record(self, bucket: str) -> dict[str, Any]:
        return s3_record(bucket=bucket, key=self.key, version_id=self.version)

    def body(self, bucket: str) -> dict[str, Any]:
        return {"Records": [self.record(bucket)]}


async def put_document(
    admin: asyncpg.Connection,
    s3: Any,
    bucket: str,
    *,
    tenant: str,
    data: bytes,
    filename: str = "doc.bin",
    content_type: str = "application/pdf",
    status: str = "queued",
) -> StoredDoc:
    """A document row and its object, as the upload service leaves them.

    ``status='awaiting_upload'`` is the presigned flow: any bytes can arrive that way
    (S3 checks only the size), with no hash known yet.
    """
    doc_id = uuid.uuid4()
    key = document_key(uploads_prefix="uploads/", tenant_id=tenant, document_id=doc_id)
    sha256 = hashlib.sha256(data).hexdigest() if status == "queued" else None
    await admin.execute(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, sha256,"
        " storage_key, status) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        doc_id,
        tenant,
        filename[:255],
        content_type,
        len(data),
        sha256,
        key,
        status,
    )
    version = s3.put_object(Bucket=bucket, Key=key, Body=data)["VersionId"]
    return StoredDoc(id=doc_id, key=key, version=version, tenant=tenant)
