"""Putting a document (back) on the ingest queue.

S3 sends object-created notifications itself; this is for the other cases (reprocess,
documents recovered from a dead worker) and sends a message of the same shape, so the
processor has exactly one input format.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote_plus

from docpipe.common.aws import client
from docpipe.common.settings import CommonSettings

__all__ = ["enqueue_document", "s3_notification_body"]


def s3_notification_body(
    *, bucket: str, key: str, size: int | None = None, event_name: str = "ObjectCreated:Put"
) -> str:
    """An S3 event notification body (keys URL-encoded the way S3 encodes them)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "eventName": event_name,
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket},
                        "object": {
                            "key": quote_plus(key, safe="/"),
                            **({"size": size} if size is not None else {}),
                        },
                    },
                }
            ]
        }
    )


async def enqueue_document(
    *, settings: CommonSettings, queue_url: str, key: str, size: int | None = None
) -> str:
    """Send a notification for ``key``; returns the SQS message id."""
    sqs = await client("sqs", settings)
    response = await sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=s3_notification_body(bucket=settings.documents_bucket, key=key, size=size),
    )
    return str(response["MessageId"])
