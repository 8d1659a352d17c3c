"""The records of a batch processed at once (RECORD_CONCURRENCY) keep every guarantee:
their waits overlap, each document gets one summary line with its own message's context,
the invocation's figures stay exact, duplicates within a batch end in one set of chunks,
extractions and large documents stay bounded, and an unreachable database still costs a
batch one connect budget.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest

from docpipe.common.keys import document_key
from docpipe.common.logging import JsonFormatter
from docpipe.devstack.embedded import AwsResources, free_port
from docpipe.processor import handler as processor
from docpipe.processor import pipeline
from docpipe.processor.handler import Tally
from docpipe.testkit.documents import StoredDoc, put_document
from docpipe.testkit.events import s3_record, sqs_event
from docpipe.testkit.invariants import assert_nothing_lost
from tests.reliability.conftest import (
    COHERE_V4,
    ScheduledBedrock,
    batch,
    doc_row,
    failed_ids,
    good_text,
    reload,
)


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The processor's log lines so far, as JSON, with the fields each task bound."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("docpipe.processor")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


async def _text_docs(
    admin: asyncpg.Connection, s3: Any, bucket: str, tenant: str, n: int
) -> list[StoredDoc]:
    return [
        await put_document(
            admin,
            s3,
            bucket,
            tenant=tenant,
            data=good_text(f"{tenant}-{i}"),
            filename=f"note-{i}.txt",
            content_type="text/plain",
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("concurrency", [1, 6])
async def test_the_waits_of_a_batch_overlap(
    bedrock_env: asyncpg.Connection,
    bedrock: ScheduledBedrock,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
    concurrency: int,
) -> None:
    monkeypatch.setenv("RECORD_CONCURRENCY", str(concurrency))
    reload(monkeypatch)
    docs = await _text_docs(bedrock_env, s3, rel_aws.bucket, tenant, 6)
    bedrock.latency = 0.3  # one call per document: the wait to overlap
    event = batch(rel_aws.bucket, docs)

    assert failed_ids(event, await processor.handle_event(event)) == []

    assert bedrock.calls(COHERE_V4, ok=True) == 6
    if concurrency == 1:
        assert bedrock.max_in_flight(COHERE_V4) == 1
    else:
        assert bedrock.max_in_flight(COHERE_V4) >= 3
    for doc in docs:
        assert (await doc_row(bedrock_env, doc.id))["status"] == "completed"


async def test_summaries_and_figures_stay_exact_for_a_mixed_batch(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    good = await _text_docs(admin_conn, s3, rel_aws.bucket, tenant, 4)
    broken = await put_document(
        admin_conn, s3, rel_aws.bucket, tenant=tenant, data=b"%PDF-1.7\n\x00\x01 not a pdf"
    )
    # The same document twice in one batch: one delivery claims it, the other sees the live
    # claim and comes back (or finds it done): one set of chunks either way.
    bodies = [d.body(rel_aws.bucket) for d in good] + [broken.body(rel_aws.bucket)]
    event = sqs_event(*bodies, good[0].body(rel_aws.bucket), "not a notification")
    ids = [r["messageId"] for r in event["Records"]]
    tally = Tally(messages=len(ids))

    result = await processor.handle_event(event, tally=tally)

    returned = failed_ids(event, result)
    # The malformed message (6) comes back; of good[0]'s two deliveries (0 and 5) the one
    # that lost the race for the claim comes back too, whichever it was (or none, had it
    # found the work done).
    assert 6 in returned and set(returned) <= {0, 5, 6} and not {0, 5} <= set(returned)
    assert (tally.completed, tally.failed, tally.returned) == (4, 1, len(returned))
    lines = [s for s in log_lines() if s["message"] == "document processed"]
    by_document: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_document.setdefault(line["summary"]["document_id"], []).append(line)
    for position, doc in enumerate([*good, broken]):
        deliveries = {ids[position], *([ids[5]] if position == 0 else [])}
        (line,) = [
            ln
            for ln in by_document[str(doc.id)]
            if ln["message_id"] in deliveries and ln["summary"]["status"] in ("completed", "failed")
        ]
        assert line["summary"]["status"] == ("failed" if doc is broken else "completed")
    assert len({ln["trace_id"] for ln in lines}) == len(lines)  # one trace per record
    row = await doc_row(admin_conn, good[0].id)
    assert (row["status"], row["attempts"]) == ("completed", 1)
    chunks = await admin_conn.fetchval(
        "select count(*) from chunks where document_id = $1", good[0].id
    )
    assert chunks == row["chunk_count"] > 0
    assert await assert_nothing_lost(admin_conn, s3, bucket=rel_aws.bucket, tenants=[tenant])


async def test_extractions_and_large_documents_stay_bounded(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    processor_env.setenv("EXTRACTION_CONCURRENCY", "2")
    processor_env.setenv("CONCURRENT_DOCUMENT_MAX_MB", "1")
    reload(processor_env)
    running, most, alone = [0], [0], []
    lock = threading.Lock()
    marker = f"large-{uuid.uuid4()}".encode()
    extract = pipeline.extract_pages

    def counted(data: bytes, **kwargs: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            if marker in data:
                alone.append(running[0])
        try:
            time.sleep(0.1)  # long enough for concurrent extractions to meet
            return extract(data, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(pipeline, "extract_pages", counted)
    docs = await _text_docs(admin_conn, s3, rel_aws.bucket, tenant, 6)
    large = await put_document(
        admin_conn,
        s3,
        rel_aws.bucket,
        tenant=tenant,
        data=marker + b" " + good_text("large"),
        filename="large.txt",
        content_type="text/plain",
    )
    # Its notification announces 2.4 MB (over CONCURRENT_DOCUMENT_MAX_MB): scheduling
    # trusts the event's size, so the object itself can stay small for the test.
    announced = s3_record(
        bucket=rel_aws.bucket, key=large.key, version_id=large.version, size=2_400_000
    )
    records = [d.body(rel_aws.bucket) for d in docs[:3]]
    records += [{"Records": [announced]}] + [d.body(rel_aws.bucket) for d in docs[3:]]

    event = sqs_event(*records)
    assert failed_ids(event, await processor.handle_event(event)) == []

    assert most[0] == 2  # six small documents, never more than two extractions at once
    assert alone == [1]  # the large document ran with no other record in progress
    for doc in [*docs, large]:
        assert (await doc_row(admin_conn, doc.id))["status"] == "completed"


async def test_unreachable_database_costs_one_budget_for_a_batch_larger_than_its_slots(
    processor_env: pytest.MonkeyPatch,
    rel_aws: AwsResources,
    s3: Any,
    tenant: str,
    fresh_pool: None,
) -> None:
    budget = 2.0
    dsn = f"postgresql://docpipe_app@127.0.0.1:{free_port()}/docpipe"  # nothing listens
    for name, value in {
        "DATABASE_URL": dsn,
        "DATABASE_CONNECT_BUDGET_SECONDS": str(budget),
        "RECORD_CONCURRENCY": "3",
        "DATABASE_POOL_MAX": "3",
    }.items():
        processor_env.setenv(name, value)
    reload(processor_env)
    bodies = []
    for i in range(9):  # three times the records in flight
        key = document_key(uploads_prefix="uploads/", tenant_id=tenant, document_id=uuid.uuid4())
        put = s3.put_object(Bucket=rel_aws.bucket, Key=key, Body=good_text(str(i)))
        record = s3_record(bucket=rel_aws.bucket, key=key, version_id=put["VersionId"])
        bodies.append({"Records": [record]})
    event = sqs_event(*bodies)

    started = time.perf_counter()
    result = await processor.handle_event(event)  # must not raise
    elapsed = time.perf_counter() - started

    assert failed_ids(event, result) == list(range(9))
    assert elapsed < 2 * budget, f"{elapsed:.1f} s: more than one connect budget"
