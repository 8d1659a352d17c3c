"""Embedding cost through the real processor: Cohere Embed v4 over Bedrock's wire format.

A 1,000-chunk document must cost at most 11 InvokeModel calls (96 texts per call), and
processing identical chunk text again must cost none (content-hash cache).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import boto3
import pytest

from docpipe.common.db import close_pool
from docpipe.common.migrations import apply_migrations
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.processor.chunking import chunk_pages
from docpipe.processor.extraction import PageText
from docpipe.testkit.bedrock_server import BedrockServer
from docpipe.testkit.documents import put_document
from docpipe.testkit.events import sqs_event

COHERE_V4 = "cohere.embed-v4:0"
DIMENSIONS = 1024  # the production default; Cohere v4 offers 256/512/1024/1536


@pytest.fixture(scope="module")
def bedrock() -> Iterator[BedrockServer]:
    with BedrockServer() as server:
        yield server


@pytest.fixture
async def cohere_db(
    migrated: EmbeddedPostgres,
    aws: AwsResources,
    bedrock: BedrockServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[str]:
    """A 1024-d database next to the 384-d test one, and the processor pointed at Bedrock."""
    name = "docpipe_cohere"
    exists = await _admin_fetchval(migrated, f"select 1 from pg_database where datname = '{name}'")
    if not exists:
        conn = await asyncpg.connect(migrated.admin_dsn)
        await conn.execute(f'create database "{name}"')
        await conn.close()
    conn = await asyncpg.connect(migrated.dsn(database=name))
    await apply_migrations(conn, embedding_dimensions=DIMENSIONS)
    await conn.close()
    for key, value in {
        "DATABASE_URL": migrated.dsn(user=None, database=name),
        "EMBEDDING_PROVIDER": "bedrock",
        "EMBEDDING_MODEL_ID": COHERE_V4,
        "EMBEDDING_DIMENSIONS": str(DIMENSIONS),
        "BEDROCK_ENDPOINT_URL": bedrock.url,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(processor, "_settings", None)
    monkeypatch.setattr(processor, "_embedder", None)
    await close_pool()  # the pool is per process: reopen it on the 1024-d database
    yield migrated.dsn(database=name)
    await close_pool()


async def _admin_fetchval(pg: EmbeddedPostgres, sql: str) -> object:
    conn = await asyncpg.connect(pg.admin_dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _thousand_chunk_text() -> str:
    # Distinct paragraphs sized so the chunker yields at least 1,000 chunks.
    paragraph = "Clause {n}: " + "leave requests are approved by the line manager. " * 22
    return "\n\n".join(paragraph.format(n=n) for n in range(1, 1000))


async def test_thousand_chunks_cost_at_most_eleven_cohere_calls_and_zero_on_repeat(
    cohere_db: str, aws: AwsResources, bedrock: BedrockServer, tenant: str
) -> None:
    text = _thousand_chunk_text()
    expected_chunks = len(
        chunk_pages([PageText(number=1, text=text)], target_chars=1200, overlap_chars=200)
    )
    assert expected_chunks >= 1000
    data = text.encode()
    admin = await asyncpg.connect(cohere_db)
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    doc = await put_document(
        admin,
        s3,
        aws.bucket,
        tenant=tenant,
        data=data,
        filename="big.txt",
        content_type="text/plain",
    )
    doc_id = doc.id
    event = sqs_event(doc.body(aws.bucket))
    bedrock.reset()

    assert await processor.handle_event(event) == {"batchItemFailures": []}
    row = await admin.fetchrow(
        "select status, chunk_count, error from documents where id = $1", doc_id
    )
    assert row["status"] == "completed", row["error"]
    assert row["chunk_count"] == expected_chunks
    calls = bedrock.calls(COHERE_V4, ok=True)
    assert calls <= 11, f"{calls} calls for {expected_chunks} chunks"
    assert all(len(body["texts"]) <= 96 for body in bedrock.bodies(COHERE_V4))
    assert {body["input_type"] for body in bedrock.bodies(COHERE_V4)} == {"search_document"}
    assert {body["output_dimension"] for body in bedrock.bodies(COHERE_V4)} == {DIMENSIONS}

    # Identical chunk text again (reprocess): served from the cache, zero calls.
    await admin.execute(
        "update documents set status = 'queued', processed_version = null where id = $1", doc_id
    )
    assert await processor.handle_event(event) == {"batchItemFailures": []}
    assert bedrock.calls(COHERE_V4, ok=True) == calls
    assert await admin.fetchval("select status from documents where id = $1", doc_id) == "completed"
    await admin.close()
