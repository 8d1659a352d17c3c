"""The processor handler against real Postgres + pgvector and moto's S3."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pymupdf
import pytest

from docpipe.common.embeddings.local import LocalHashEmbedder
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.testkit.documents import put_document
from docpipe.testkit.events import S3_TEST_EVENT, s3_record, sqs_event


@pytest.fixture(autouse=True)
def _env(migrated: EmbeddedPostgres, aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fresh settings per test; the loop-bound pool and clients are reused like on Lambda.
    monkeypatch.setattr(processor, "_settings", None)
    monkeypatch.setattr(processor, "_embedder", None)


def _pdf(pages: list[str]) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=10)
    data: bytes = doc.tobytes()
    doc.close()
    return data


async def _put_document(
    admin: asyncpg.Connection,
    aws: AwsResources,
    *,
    tenant: str,
    data: bytes,
    content_type: str = "application/pdf",
    filename: str = "doc.pdf",
) -> tuple[uuid.UUID, str, str]:
    """A document row as the upload service leaves it, and its object (notifications off)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    doc = await put_document(
        admin,
        s3,
        aws.bucket,
        tenant=tenant,
        data=data,
        filename=filename,
        content_type=content_type,
    )
    return doc.id, doc.key, doc.version


async def _doc(admin: asyncpg.Connection, doc_id: uuid.UUID) -> dict[str, Any]:
    row = await admin.fetchrow("select * from documents where id = $1", doc_id)
    assert row is not None
    return dict(row)


def _event(aws: AwsResources, key: str, version: str, **kw: Any) -> dict[str, Any]:
    return sqs_event({"Records": [s3_record(bucket=aws.bucket, key=key, version_id=version)]}, **kw)


async def test_pdf_becomes_chunks_with_pages(
    admin_conn: asyncpg.Connection, aws: AwsResources, tenant: str
) -> None:
    pages = [f"Page {n}. " + f"Employees accrue annual leave topic{n}. " * 40 for n in range(1, 4)]
    doc_id, key, version = await _put_document(admin_conn, aws, tenant=tenant, data=_pdf(pages))
    result = await processor.handle_event(_event(aws, key, version))
    assert result == {"batchItemFailures": []}
    doc = await _doc(admin_conn, doc_id)
    assert doc["status"] == "completed", doc["error"]
    assert doc["page_count"] == 3 and doc["chunk_count"] >= 3
    rows = await admin_conn.fetch(
        "select ordinal, page_start, page_end, text from chunks where document_id = $1"
        " order by ordinal",
        doc_id,
    )
    assert len(rows) == doc["chunk_count"]
    assert {r["page_start"] for r in rows} == {1, 2, 3}
    assert all("topic3" not in r["text"] for r in rows if r["page_end"] < 3)


async def test_duplicate_and_concurrent_delivery_end_in_one_set_of_chunks(
    admin_conn: asyncpg.Connection, aws: AwsResources, tenant: str
) -> None:
    text = ("Overtime must be approved in advance by a manager. " * 200).encode()
    doc_id, key, version = await _put_document(
        admin_conn, aws, tenant=tenant, data=text, content_type="text/plain", filename="a.txt"
    )
    first, second = await asyncio.gather(
        processor.handle_event(_event(aws, key, version)),
        processor.handle_event(_event(aws, key, version)),
    )
    # One of the two saw a live claim and asked for redelivery; redeliver it.
    retried = [r for r in (first, second) if r["batchItemFailures"]]
    assert len(retried) <= 1
    again = await processor.handle_event(_event(aws, key, version, receive_count=2))
    assert again == {"batchItemFailures": []}
    doc = await _doc(admin_conn, doc_id)
    assert doc["status"] == "completed" and doc["attempts"] == 1
    count = await admin_conn.fetchval("select count(*) from chunks where document_id = $1", doc_id)
    ordinals = await admin_conn.fetchval(
        "select count(distinct ordinal) from chunks where document_id = $1", doc_id
    )
    assert count == doc["chunk_count"] == ordinals


async def test_corrupt_pdf_fails_with_reason_and_spares_the_rest_of_the_batch(
    admin_conn: asyncpg.Connection, aws: AwsResources, tenant: str
) -> None:
    good = _pdf(["A perfectly fine page about remote work policy."])
    bad = good[: len(good) // 3]
    good_id, good_key, good_v = await _put_document(admin_conn, aws, tenant=tenant, data=good)
    bad_id, bad_key, bad_v = await _put_document(admin_conn, aws, tenant=tenant, data=bad)
    event = sqs_event(
        {"Records": [s3_record(bucket=aws.bucket, key=bad_key, version_id=bad_v)]},
        S3_TEST_EVENT,
        {"Records": [s3_record(bucket=aws.bucket, key=good_key, version_id=good_v)]},
    )
    assert await processor.handle_event(event) == {"batchItemFailures": []}
    bad_doc, good_doc = await _doc(admin_conn, bad_id), await _doc(admin_conn, good_id)
    assert bad_doc["status"] == "failed" and bad_doc["error"]
    assert good_doc["status"] == "completed"


async def test_malformed_message_is_reported_not_dropped(aws: AwsResources) -> None:
    event = sqs_event("this is not json")
    result = await processor.handle_event(event)
    assert result["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]


async def test_reprocessing_identical_text_costs_no_embedding_calls(
    admin_conn: asyncpg.Connection,
    aws: AwsResources,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With an embedder worth caching (Bedrock's kind), a reprocess embeds nothing again."""
    monkeypatch.setattr(LocalHashEmbedder, "cache_embeddings", True)
    text = "\n\n".join(f"Section {i}: the travel policy covers trip {i}." * 30 for i in range(20))
    doc_id, key, version = await _put_document(
        admin_conn, aws, tenant=tenant, data=text.encode(), content_type="text/plain"
    )
    await processor.handle_event(_event(aws, key, version))
    embedder = processor._embedder
    assert embedder is not None and embedder.stats.calls > 0
    calls = embedder.stats.calls
    await admin_conn.execute(
        "update documents set status = 'queued', processed_version = null where id = $1", doc_id
    )
    await processor.handle_event(_event(aws, key, version))
    doc = await _doc(admin_conn, doc_id)
    assert doc["status"] == "completed" and embedder.stats.calls == calls


async def test_the_local_embedder_skips_the_embedding_cache(
    admin_conn: asyncpg.Connection, aws: AwsResources, tenant: str
) -> None:
    """Hashing again is cheaper than the cache: nothing is read from or written to it."""
    text = "Section 1: the travel policy covers every trip abroad. " * 40
    doc_id, key, version = await _put_document(
        admin_conn, aws, tenant=tenant, data=text.encode(), content_type="text/plain"
    )
    await processor.handle_event(_event(aws, key, version))
    assert (await _doc(admin_conn, doc_id))["status"] == "completed"
    cached = await admin_conn.fetchval(
        "select count(*) from embedding_cache where tenant_id = $1", tenant
    )
    assert cached == 0


async def test_deleted_document_and_missing_object(
    admin_conn: asyncpg.Connection, aws: AwsResources, tenant: str
) -> None:
    import boto3

    doc_id, key, version = await _put_document(
        admin_conn, aws, tenant=tenant, data=b"hello world " * 50, content_type="text/plain"
    )
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    s3.delete_object(Bucket=aws.bucket, Key=key, VersionId=version)
    assert await processor.handle_event(_event(aws, key, version)) == {"batchItemFailures": []}
    doc = await _doc(admin_conn, doc_id)
    assert doc["status"] == "failed" and "no longer exists" in doc["error"]
    await admin_conn.execute("delete from documents where id = $1", doc_id)
    assert await processor.handle_event(_event(aws, key, version)) == {"batchItemFailures": []}


async def test_plain_s3_event_and_url_encoded_keys(
    admin_conn: asyncpg.Connection, aws: AwsResources
) -> None:
    # A tenant id with spaces and '+' makes an encoded key segment; S3 URL-encodes it.
    tenant = f"team a+b {uuid.uuid4().hex[:6]}"
    doc_id, key, version = await _put_document(
        admin_conn,
        aws,
        tenant=tenant,
        data=b"Plain S3 events work too. " * 40,
        content_type="text/plain",
    )
    event = {"Records": [s3_record(bucket=aws.bucket, key=key, version_id=version)]}
    assert await processor.handle_event(event) == {"batchItemFailures": []}
    assert (await _doc(admin_conn, doc_id))["status"] == "completed"
