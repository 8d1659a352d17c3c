"""Putting a document (back) on the ingest queue.

S3 sends object-created notifications itself; this is for the other cases (reprocess,
documents recovered from a dead worker, the local stack after a restart) and sends a
message of the same shape, so the processor has exactly one input format.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from docpipe.common.aws import client
from docpipe.common.settings import CommonSettings

__all__ = ["enqueue_document", "s3_notification_body"]


def s3_notification_body(
    *,
    bucket: str,
    key: str,
    size: int | None = None,
    version_id: str | None = None,
    etag: str | None = None,
    sender: str = "docpipe",
) -> str:
    """An S3 event notification (2.1) body; the key URL-encoded the way S3 encodes it."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "sequencer": f"{int(datetime.now(UTC).timestamp() * 1e6):016X}",
    }
    if size is not None:
        obj["size"] = size
    if etag:
        obj["eTag"] = etag
    if version_id:
        obj["versionId"] = version_id
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": sender},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": f"{sender}-requeue",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }
    return json.dumps({"Records": [record]})


async def enqueue_document(
    *,
    settings: CommonSettings,
    queue_url: str,
    key: str,
    size: int | None = None,
    version_id: str | None = None,
    etag: str | None = None,
    sender: str = "docpipe",
) -> str:
    """Send a notification for ``key``; returns the SQS message id."""
    sqs = await client("sqs", settings)
    body = s3_notification_body(
        bucket=settings.documents_bucket,
        key=key,
        size=size,
        version_id=version_id,
        etag=etag,
        sender=sender,
    )
    response = await sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    return str(response["MessageId"])
