"""Re-enqueueing a document: an S3 ``ObjectCreated`` notification sent to the ingest queue.

The processor consumes exactly what S3 sends (ARCHITECTURE §5), so reprocessing reuses
that path instead of a second message format. Keys are URL-encoded the way S3 encodes
them (``+`` for a space).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from docpipe.common.aws import client
from docpipe.common.storage import ObjectInfo
from docpipe.upload.config import UploadSettings

__all__ = ["s3_created_event", "send_reprocess_event"]


def s3_created_event(*, bucket: str, region: str, obj: ObjectInfo) -> dict[str, Any]:
    """An S3 event notification (version 2.1) for ``obj`` having been put."""
    s3_object: dict[str, Any] = {
        "key": quote_plus(obj.key, safe="/"),
        "size": obj.size,
        "eTag": obj.etag,
        "sequencer": f"{int(datetime.now(UTC).timestamp() * 1e6):016X}",
    }
    if obj.version_id:
        s3_object["versionId"] = obj.version_id
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "docpipe-upload"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "docpipe-reprocess",
            "bucket": {
                "name": bucket,
                "arn": f"arn:aws:s3:::{bucket}",
                "ownerIdentity": {"principalId": "docpipe-upload"},
            },
            "object": s3_object,
        },
    }
    return {"Records": [record]}


async def send_reprocess_event(*, settings: UploadSettings, obj: ObjectInfo) -> str:
    """Send the event to INGEST_QUEUE_URL; returns the SQS message id."""
    sqs = await client("sqs", settings)
    body = s3_created_event(bucket=settings.documents_bucket, region=settings.aws_region, obj=obj)
    response = await sqs.send_message(
        QueueUrl=settings.ingest_queue_url, MessageBody=json.dumps(body)
    )
    return str(response["MessageId"])
