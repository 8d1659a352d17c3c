"""Opaque keyset cursors for listing documents newest first.

A cursor is the URL-safe base64 of ``{"c": created_at, "i": id}`` of the last document a
page returned; the next page starts strictly after it, so inserts and deletes between
requests never repeat or skip a row.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from docpipe.common.documents import Document
from docpipe.upload.exceptions import InvalidCursor

__all__ = ["decode_cursor", "encode_cursor"]

_MAX_CURSOR_CHARS = 512


def encode_cursor(last: Document) -> str:
    payload = json.dumps(
        {"c": last.created_at.isoformat(), "i": str(last.id)}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor stands for, or :class:`InvalidCursor`."""
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidCursor("cursor is not one this service issued")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        created_at = datetime.fromisoformat(payload["c"])
        document_id = uuid.UUID(payload["i"])
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise InvalidCursor("cursor is not one this service issued") from exc
    if created_at.tzinfo is None:
        raise InvalidCursor("cursor is not one this service issued")
    return created_at, document_id
