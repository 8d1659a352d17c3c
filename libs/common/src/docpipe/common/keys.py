"""Storage keys: ``{prefix}{tenant_key}/{document_id}``, independent of the user's filename.

The tenant is encoded in the key (URL-safe base64 of its UTF-8 bytes) so that IAM,
presigned-POST conditions and the processor can all scope by prefix, and the processor
can open a tenant-scoped transaction from the S3 event alone.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from docpipe.common.exceptions import InvalidKey

__all__ = ["DocumentKey", "document_key", "parse_document_key", "tenant_prefix"]


@dataclass(frozen=True)
class DocumentKey:
    tenant_id: str
    document_id: uuid.UUID


def _encode_tenant(tenant_id: str) -> str:
    return base64.urlsafe_b64encode(tenant_id.encode()).decode().rstrip("=")


def tenant_prefix(*, uploads_prefix: str, tenant_id: str) -> str:
    return f"{uploads_prefix}{_encode_tenant(tenant_id)}/"


def document_key(*, uploads_prefix: str, tenant_id: str, document_id: uuid.UUID) -> str:
    return f"{tenant_prefix(uploads_prefix=uploads_prefix, tenant_id=tenant_id)}{document_id}"


def parse_document_key(key: str, *, uploads_prefix: str) -> DocumentKey:
    """Inverse of :func:`document_key`; raises :class:`InvalidKey` for anything else."""
    if not key.startswith(uploads_prefix):
        raise InvalidKey(f"key outside {uploads_prefix!r}: {key!r}")
    parts = key[len(uploads_prefix) :].split("/")
    if len(parts) != 2 or not parts[0]:
        raise InvalidKey(f"not a document key: {key!r}")
    encoded, raw_id = parts
    try:
        tenant_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        document_id = uuid.UUID(raw_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidKey(f"not a document key: {key!r}") from exc
    if _encode_tenant(tenant_id) != encoded or str(document_id) != raw_id:
        raise InvalidKey(f"non-canonical document key: {key!r}")
    return DocumentKey(tenant_id=tenant_id, document_id=document_id)
