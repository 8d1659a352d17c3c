"""AWS-shaped Lambda events, written from AWS's documented formats."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote_plus


def s3_record(
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
    size: int = 1,
    event_name: str = "ObjectCreated:Put",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "size": size,
        "eTag": uuid.uuid4().hex,
        "sequencer": "0055AED6DCD90281E5",
    }
    if version_id:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "ap-northeast-1",
        "eventTime": "2026-11-23T00:00:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:EXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ingest",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }


def sqs_event(*bodies: str | dict[str, Any], receive_count: int = 1) -> dict[str, Any]:
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex,
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1700000000001",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-northeast-1:123456789012:docpipe-ingest",
                "awsRegion": "ap-northeast-1",
            }
        )
    return {"Records": records}


S3_TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-11-23T00:00:00Z",
    "Bucket": "docpipe-test",
    "RequestId": "X",
    "HostId": "Y",
}
