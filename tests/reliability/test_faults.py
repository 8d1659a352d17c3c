"""Faults around the processor: Bedrock throttling and outages, a poison message, the
database dropping connections mid-batch, an object deleted before processing, duplicate
and out-of-order delivery, and S3's test event. Each test checks the final database state
exactly and ends with the nothing-lost invariant.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

import asyncpg
import pytest

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.processor.chunking import chunk_pages
from docpipe.processor.extraction import PageText
from docpipe.testkit.bedrock_server import SERVER_ERROR, THROTTLE, UNAVAILABLE
from docpipe.testkit.documents import StoredDoc, put_document
from docpipe.testkit.events import S3_TEST_EVENT, s3_record, sqs_event
from docpipe.testkit.invariants import assert_nothing_lost
from docpipe.testkit.pump import pump_queue
from docpipe.testkit.queues import drain
from tests.reliability.conftest import (
    COHERE_V4,
    ScheduledBedrock,
    batch,
    doc_row,
    failed_ids,
    good_text,
    reload,
)


def _clauses(n: int, tag: str) -> bytes:
    """Text that chunks into about ``n`` distinct chunks (one per paragraph)."""
    return "\n\n".join(
        f"Clause {tag}-{i}: " + "leave requests are approved by the line manager. " * 20
        for i in range(n)
    ).encode()


def _unique_chunks(data: bytes) -> set[str]:
    chunks = chunk_pages([PageText(1, data.decode())], target_chars=1200, overlap_chars=200)
    return {c.text for c in chunks}


async def _deliver(bucket: str, doc: StoredDoc, *, receive_count: int = 1) -> bool:
    """Deliver one message for ``doc``; True when the handler is done with it."""
    event = batch(bucket, [doc], receive_count=receive_count)
    return not failed_ids(event, await processor.handle_event(event))


# --------------------------------------------------------------------------- Bedrock


async def test_throttling_and_5xx_bursts_are_retried_within_one_delivery(
    bedrock_env: asyncpg.Connection,
    bedrock: ScheduledBedrock,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
) -> None:
    data = _clauses(250, "burst")
    doc = await put_document(bedrock_env, s3, rel_aws.bucket, tenant=tenant, data=data)
    bedrock.fail_next(4, THROTTLE)
    bedrock.fail_next(2, SERVER_ERROR)
    bedrock.fail_next(1, UNAVAILABLE)

    assert await _deliver(rel_aws.bucket, doc)

    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 1, None)
    assert bedrock.calls(COHERE_V4, ok=False) == 7  # every fault was met, and retried
    embedded = bedrock.texts_embedded()
    assert sorted(embedded) == sorted(_unique_chunks(data))  # each text exactly once
    assert await assert_nothing_lost(bedrock_env, s3, bucket=rel_aws.bucket, tenants=[tenant])


async def test_a_group_failing_past_its_retries_is_not_reembedded_from_scratch(
    bedrock_env: asyncpg.Connection,
    bedrock: ScheduledBedrock,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMBEDDING_GROUP_SIZE", "96")  # one call per group
    monkeypatch.setenv("EMBEDDING_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("EMBEDDING_MAX_RETRIES", "2")
    reload(monkeypatch)
    data = _clauses(450, "group")
    unique = _unique_chunks(data)
    assert len(unique) > 4 * 96
    doc = await put_document(bedrock_env, s3, rel_aws.bucket, tenant=tenant, data=data)
    bedrock.fail_requests(range(2, 5), SERVER_ERROR)  # group 3: first try + 2 retries

    assert not await _deliver(rel_aws.bucket, doc)  # the message returns
    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert "will retry" in row["error"]
    assert len(bedrock.texts_embedded()) == 2 * 96  # two groups done (and cached)

    assert await _deliver(rel_aws.bucket, doc, receive_count=2)
    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 2, None)
    embedded = bedrock.texts_embedded()
    assert len(embedded) == len(set(embedded)) == len(unique)  # nothing paid for twice
    assert await assert_nothing_lost(bedrock_env, s3, bucket=rel_aws.bucket, tenants=[tenant])


async def test_bedrock_down_returns_the_message_which_succeeds_later(
    bedrock_env: asyncpg.Connection,
    bedrock: ScheduledBedrock,
    s3: Any,
    sqs: Any,
    rel_aws: AwsResources,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMBEDDING_MAX_RETRIES", "2")
    reload(monkeypatch)
    drain(sqs, rel_aws.queue_url)
    data = _clauses(20, "down")
    doc = await put_document(bedrock_env, s3, rel_aws.bucket, tenant=tenant, data=data)
    bedrock.fail_next(10_000, UNAVAILABLE)

    handled = await pump_queue(rel_aws, rounds=1)  # the S3 notification, one receive
    assert handled == 1
    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    attrs = sqs.get_queue_attributes(QueueUrl=rel_aws.queue_url, AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"  # back on the queue

    bedrock.reset()  # Bedrock is back
    await pump_queue(rel_aws)
    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 2, None)
    assert sorted(bedrock.texts_embedded()) == sorted(_unique_chunks(data))
    assert await assert_nothing_lost(bedrock_env, s3, bucket=rel_aws.bucket, tenants=[tenant])


async def test_poison_message_ends_in_the_dlq_and_a_redrive_retries_it(
    bedrock_env: asyncpg.Connection,
    bedrock: ScheduledBedrock,
    s3: Any,
    sqs: Any,
    rel_aws: AwsResources,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMBEDDING_MAX_RETRIES", "0")
    reload(monkeypatch)
    drain(sqs, rel_aws.queue_url)
    drain(sqs, rel_aws.dlq_url)
    doc = await put_document(
        bedrock_env, s3, rel_aws.bucket, tenant=tenant, data=_clauses(3, "poison")
    )
    bedrock.fail_next(10_000, SERVER_ERROR)  # never recovers

    handled = await pump_queue(rel_aws, rounds=12)
    assert handled == 5  # maxReceiveCount receives, then SQS moves it to the DLQ
    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"]) == ("failed", 5)
    assert "after 5 attempts" in row["error"]
    moved = sqs.receive_message(QueueUrl=rel_aws.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [
        unquote_plus(json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"]) for m in moved
    ] == [doc.key]
    attrs = sqs.get_queue_attributes(QueueUrl=rel_aws.queue_url, AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert row["failure_kind"] == "exhausted"
    assert "embedding service was unavailable" in row["error"]
    assert "ServerError" not in row["error"] and "arn:" not in row["error"]  # no internals

    # The operator fixes the cause and redrives the DLQ: the document is retried, not
    # dropped as a duplicate, and ends completed with fresh attempts.
    bedrock.reset()
    for message in moved:
        sqs.send_message(QueueUrl=rel_aws.queue_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=rel_aws.dlq_url, ReceiptHandle=message["ReceiptHandle"])
    await pump_queue(rel_aws)
    row = await doc_row(bedrock_env, doc.id)
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 1, None)
    assert row["failure_kind"] is None
    assert await assert_nothing_lost(bedrock_env, s3, bucket=rel_aws.bucket, tenants=[tenant])


# ------------------------------------------------------------------------- database


async def _terminate_app_connections(admin: asyncpg.Connection, stop: asyncio.Event) -> int:
    """Kill every connection of the services' role, again and again, until ``stop``."""
    killed = 0
    while not stop.is_set():
        killed += await admin.fetchval(
            "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity"
            " where usename in ('docpipe_upload', 'docpipe_query', 'docpipe_processor')"
            " and datname = current_database()) t"
        )
        await asyncio.sleep(0.02)
    return killed


async def test_database_connections_dropped_mid_batch(
    processor_env: pytest.MonkeyPatch,
    migrated: EmbeddedPostgres,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
) -> None:
    processor_env.setenv("PROCESSING_LEASE_SECONDS", "5")
    reload(processor_env)
    docs = [
        await put_document(
            admin_conn, s3, rel_aws.bucket, tenant=tenant, data=_clauses(60, f"db{i}")
        )
        for i in range(6)
    ]
    killer_conn = await asyncpg.connect(migrated.admin_dsn)
    stop = asyncio.Event()
    killer = asyncio.create_task(_terminate_app_connections(killer_conn, stop))
    event = batch(rel_aws.bucket, docs)
    try:
        result = await processor.handle_event(event)  # must not raise
    finally:
        stop.set()
        killed = await killer
        await killer_conn.close()
    assert killed > 0
    pending = [docs[i] for i in failed_ids(event, result)]
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:  # SQS redelivers what was reported
        await asyncio.sleep(1)
        event = batch(rel_aws.bucket, pending, receive_count=2)
        pending = [pending[i] for i in failed_ids(event, await processor.handle_event(event))]
    assert not pending
    for doc in docs:
        row = await doc_row(admin_conn, doc.id)
        assert (row["status"], row["error"]) == ("completed", None)
    assert await assert_nothing_lost(admin_conn, s3, bucket=rel_aws.bucket, tenants=[tenant]) == 6


# ----------------------------------------------------------------------- S3 and SQS


async def test_object_deleted_before_processing(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
) -> None:
    gone = await put_document(admin_conn, s3, rel_aws.bucket, tenant=tenant, data=good_text("x"))
    kept = await put_document(admin_conn, s3, rel_aws.bucket, tenant=tenant, data=good_text("y"))
    s3.delete_object(Bucket=rel_aws.bucket, Key=gone.key, VersionId=gone.version)
    event = batch(rel_aws.bucket, [gone, kept])
    assert failed_ids(event, await processor.handle_event(event)) == []
    row = await doc_row(admin_conn, gone.id)
    assert row["status"] == "failed" and "no longer exists" in row["error"]
    assert (await doc_row(admin_conn, kept.id))["status"] == "completed"
    assert await assert_nothing_lost(admin_conn, s3, bucket=rel_aws.bucket, tenants=[tenant]) == 2


async def test_same_message_three_times_concurrently(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
) -> None:
    data = _clauses(40, "triple")
    doc = await put_document(admin_conn, s3, rel_aws.bucket, tenant=tenant, data=data)
    body = doc.body(rel_aws.bucket)
    events = [sqs_event(body, receive_count=1) for _ in range(3)]
    results = await asyncio.gather(*(processor.handle_event(e) for e in events))
    retried = [e for e, r in zip(events, results, strict=True) if r["batchItemFailures"]]
    assert len(retried) <= 2  # the others saw a live claim and asked for redelivery
    for _ in retried:  # SQS redelivers them
        again = sqs_event(body, receive_count=2)
        assert (await processor.handle_event(again))["batchItemFailures"] == []
    row = await doc_row(admin_conn, doc.id)
    assert (row["status"], row["attempts"], row["chunk_count"]) == (
        "completed",
        1,
        len(_unique_chunks(data)),
    )
    assert await assert_nothing_lost(admin_conn, s3, bucket=rel_aws.bucket, tenants=[tenant]) == 1


async def test_versions_delivered_out_of_order_end_on_the_latest(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
) -> None:
    """A presigned form posted twice makes two versions; their events may arrive reversed."""
    first = await put_document(
        admin_conn,
        s3,
        rel_aws.bucket,
        tenant=tenant,
        data=_clauses(5, "old-version"),
        status="awaiting_upload",
    )
    v2 = s3.put_object(Bucket=rel_aws.bucket, Key=first.key, Body=_clauses(7, "new-version"))
    second = StoredDoc(first.id, first.key, v2["VersionId"], tenant)
    for doc in (second, first, second, first):  # newest first, then duplicates of both
        assert await _deliver(rel_aws.bucket, doc)
    row = await doc_row(admin_conn, first.id)
    assert row["status"] == "completed" and row["processed_version"] == second.version
    texts = await admin_conn.fetch("select text from chunks where document_id = $1", first.id)
    assert all("new-version" in r["text"] for r in texts)
    assert await assert_nothing_lost(admin_conn, s3, bucket=rel_aws.bucket, tenants=[tenant]) == 1


async def test_s3_test_event_and_foreign_keys_are_ignored(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
) -> None:
    doc = await put_document(admin_conn, s3, rel_aws.bucket, tenant=tenant, data=good_text("t"))
    foreign = {"Records": [s3_record(bucket=rel_aws.bucket, key=f"other/{uuid.uuid4()}")]}
    event = sqs_event(S3_TEST_EVENT, foreign, doc.body(rel_aws.bucket), S3_TEST_EVENT)
    assert await processor.handle_event(event) == {"batchItemFailures": []}
    assert await processor.handle_event(S3_TEST_EVENT) == {"batchItemFailures": []}
    assert (await doc_row(admin_conn, doc.id))["status"] == "completed"
    assert await assert_nothing_lost(admin_conn, s3, bucket=rel_aws.bucket, tenants=[tenant]) == 1
