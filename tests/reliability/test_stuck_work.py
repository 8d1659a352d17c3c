"""Work a dead worker left behind: the processor SIGKILLed mid-document, and documents
stuck in ``processing`` that the reaper must retry or fail."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import pytest

from docpipe.devstack.embedded import AwsResources
from docpipe.processor import handler as processor
from docpipe.testkit.documents import put_document
from docpipe.testkit.events import S3_TEST_EVENT, sqs_event
from docpipe.testkit.invariants import assert_nothing_lost
from docpipe.testkit.pump import pump_queue
from docpipe.testkit.queues import drain
from tests.reliability.conftest import (
    ScheduledBedrock,
    batch,
    doc_row,
    failed_ids,
    good_text,
    reload,
)

LEASE_S = 5
_CHILD = (
    "import json, sys\n"
    "from docpipe.processor.handler import handler\n"
    "print(json.dumps(handler(json.loads(sys.stdin.read()))), flush=True)\n"
)


def _clauses(n: int) -> bytes:
    return "\n\n".join(
        f"Article {i}: " + "overtime is compensated within the same quarter. " * 20
        for i in range(n)
    ).encode()


async def test_processor_killed_mid_document_is_completed_by_the_retry(
    bedrock_env: asyncpg.Connection,
    bedrock: ScheduledBedrock,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "PROCESSING_LEASE_SECONDS": str(LEASE_S),
        "EMBEDDING_GROUP_SIZE": "96",
        "EMBEDDING_MAX_CONCURRENCY": "1",
    }.items():
        monkeypatch.setenv(name, value)
    reload(monkeypatch)
    data = _clauses(400)
    doc = await put_document(bedrock_env, s3, rel_aws.bucket, tenant=tenant, data=data)
    event = batch(rel_aws.bucket, [doc])
    bedrock.latency = 0.3
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    assert child.stdin is not None
    child.stdin.write(json.dumps(event).encode())
    child.stdin.close()
    deadline = time.monotonic() + 90
    while bedrock.calls(ok=True) < 2 and time.monotonic() < deadline:  # two groups cached
        assert child.poll() is None, "the worker finished before it could be killed"
        await asyncio.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    bedrock.latency = 0.0
    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"]) == ("processing", 1)  # the dead worker's claim
    chunks = "select count(*) from chunks where document_id = $1"
    assert await bedrock_env.fetchval(chunks, doc.id) == 0

    redelivered = batch(rel_aws.bucket, [doc], receive_count=2)
    assert failed_ids(redelivered, await processor.handle_event(redelivered)) == [0]  # leased
    await asyncio.sleep(LEASE_S + 0.5)
    redelivered = batch(rel_aws.bucket, [doc], receive_count=3)
    assert failed_ids(redelivered, await processor.handle_event(redelivered)) == []

    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 2, None)
    embedded = bedrock.texts_embedded()
    unique = set(embedded)
    stored = await bedrock_env.fetch("select text from chunks where document_id = $1", doc.id)
    assert unique == {r["text"] for r in stored}
    assert len(embedded) - len(unique) <= 96  # at most the group in flight at the kill
    await assert_nothing_lost(bedrock_env, s3, bucket=rel_aws.bucket, tenants=[tenant])


async def _stale(admin: asyncpg.Connection, doc_id: uuid.UUID, *, attempts: int) -> None:
    await admin.execute(
        "update documents set status = 'processing', attempts = $2, claim_token = $3,"
        " processing_started_at = now() - interval '2 hours' where id = $1",
        doc_id,
        attempts,
        uuid.uuid4(),
    )


async def test_documents_left_processing_are_retried_or_failed(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    sqs: Any,
    rel_aws: AwsResources,
    tenant: str,
) -> None:
    docs = [
        await put_document(admin_conn, s3, rel_aws.bucket, tenant=tenant, data=good_text(tag))
        for tag in ("retry", "give-up", "live")
    ]
    drain(sqs, rel_aws.queue_url)  # forget the uploads' own notifications
    retry, give_up, live = docs
    await _stale(admin_conn, retry.id, attempts=1)
    await _stale(admin_conn, give_up.id, attempts=5)
    await admin_conn.execute(  # a worker that is alive and well
        "update documents set status = 'processing', attempts = 1, claim_token = $2,"
        " processing_started_at = now() where id = $1",
        live.id,
        uuid.uuid4(),
    )
    processor_env.setattr(processor, "_last_reap", 0.0)  # due now

    # Any invocation reaps; the reaper re-sends the retried document to the ingest queue.
    assert await processor.handle_event(sqs_event(S3_TEST_EVENT)) == {"batchItemFailures": []}
    failed = await doc_row(admin_conn, give_up.id)
    assert failed["status"] == "failed" and "after 5 attempts" in failed["error"]
    assert (await doc_row(admin_conn, retry.id))["status"] == "queued"
    assert (await doc_row(admin_conn, live.id))["status"] == "processing"

    assert await pump_queue(rel_aws) == 1
    row = await doc_row(admin_conn, retry.id)
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 2, None)
    assert (await doc_row(admin_conn, live.id))["status"] == "processing"  # untouched
    await admin_conn.execute(
        "update documents set status = 'queued', claim_token = null,"
        " processing_started_at = null where id = $1",
        live.id,
    )  # the live worker "finishes": deliver its message
    event = batch(rel_aws.bucket, [live])
    assert failed_ids(event, await processor.handle_event(event)) == []
    assert await assert_nothing_lost(admin_conn, s3, bucket=rel_aws.bucket, tenants=[tenant]) == 3
