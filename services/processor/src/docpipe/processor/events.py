"""Turning Lambda events into object-created notifications.

Accepts SQS records whose body is an S3 notification and plain S3 events. Keys arrive
URL-encoded (``+`` for a space); ``s3:TestEvent`` messages carry no records and are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from docpipe.processor.exceptions import MalformedMessage

__all__ = ["ObjectCreated", "SqsMessage", "iter_messages", "parse_s3_records"]


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    event_name: str

    @property
    def version(self) -> str | None:
        """What identifies this object version, for duplicate detection."""
        return self.version_id or self.etag


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    receive_count: int
    body: str


def parse_s3_records(records: Any) -> list[ObjectCreated]:
    if not isinstance(records, list):
        raise MalformedMessage("'Records' is not a list")
    events: list[ObjectCreated] = []
    for record in records:
        if not isinstance(record, Mapping):
            raise MalformedMessage("an S3 record is not an object")
        name = str(record.get("eventName", ""))
        if not name.startswith("ObjectCreated"):
            continue
        try:
            s3 = record["s3"]
            obj = s3["object"]
            events.append(
                ObjectCreated(
                    bucket=str(s3["bucket"]["name"]),
                    key=unquote_plus(str(obj["key"])),
                    version_id=obj.get("versionId") or None,
                    etag=(obj.get("eTag") or None),
                    size=int(obj["size"]) if obj.get("size") is not None else None,
                    event_name=name,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"not an S3 object-created record: {exc!r}") from exc
    return events


def parse_sqs_body(body: str) -> list[ObjectCreated]:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedMessage("the message body is not JSON") from exc
    if not isinstance(payload, Mapping):
        raise MalformedMessage("the message body is not a JSON object")
    if payload.get("Event") == "s3:TestEvent":
        return []
    if "Records" not in payload:
        raise MalformedMessage("the message body has no 'Records'")
    return parse_s3_records(payload["Records"])


def iter_messages(event: Mapping[str, Any]) -> Iterator[SqsMessage]:
    for record in event.get("Records") or []:
        attributes = record.get("attributes") or {}
        yield SqsMessage(
            message_id=str(record.get("messageId", "")),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            body=str(record.get("body", "")),
        )


def is_sqs_event(event: Mapping[str, Any]) -> bool:
    records = event.get("Records") or []
    return bool(records) and all(r.get("eventSource") == "aws:sqs" for r in records)
