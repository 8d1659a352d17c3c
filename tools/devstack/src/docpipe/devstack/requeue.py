"""Re-enqueue documents that were waiting or in progress when the local stack stopped.

moto keeps SQS in memory, so messages in flight at shutdown are gone after a restart.
At start-up no worker is alive, so every ``processing`` claim is stale: it is released
(back to ``queued``, attempts kept) and each unfinished document gets a fresh message
shaped like the S3 ``ObjectCreated`` notification the processor receives on AWS
(the same body the services use to re-enqueue, :mod:`docpipe.common.ingest`).
Runs as the database owner: a local tool that must see every tenant.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from docpipe.common.ingest import s3_notification_body

__all__ = ["requeue_unfinished"]

_RELEASE_AND_LIST = """
with released as (
    update documents
       set status = 'queued', claim_token = null, processing_started_at = null,
           updated_at = now()
     where status = 'processing'
    returning storage_key
)
select storage_key from released
union all
select storage_key from documents where status = 'queued'
"""


async def requeue_unfinished(
    *, admin_dsn: str, s3: Any, sqs: Any, bucket: str, queue_url: str
) -> int:
    """Send one notification per queued/processing document; return how many were sent."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        keys = [r["storage_key"] for r in await conn.fetch(_RELEASE_AND_LIST)]
    finally:
        await conn.close()
    bodies = [
        s3_notification_body(bucket=bucket, key=key, size=_size(s3=s3, bucket=bucket, key=key))
        for key in keys
    ]
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return len(bodies)


def _size(*, s3: Any, bucket: str, key: str) -> int | None:
    # A lost object (e.g. a deleted snapshot) is still notified: the processor then records
    # the document as failed instead of leaving it queued forever.
    try:
        return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except s3.exceptions.ClientError:
        return None
