"""Shared pieces of the reliability suite: its own bucket and queue, documents as the
upload service leaves them, SQS-shaped delivery, and the processor reconfigured per test.

The suite uses a bucket and queue of its own (same moto server) so that the S3
notifications its uploads produce, the receive counts and the DLQ belong to it alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import boto3
import pytest

from docpipe.common.db import close_pool
from docpipe.common.migrations import apply_migrations
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres, provision_aws
from docpipe.processor import handler as processor
from docpipe.testkit.bedrock_server import BedrockServer, Fault
from docpipe.testkit.documents import StoredDoc
from docpipe.testkit.events import sqs_event

REGION = "ap-northeast-1"


@pytest.fixture(scope="session")
def rel_aws(moto_endpoint: str) -> AwsResources:
    return provision_aws(
        endpoint_url=moto_endpoint, bucket="docpipe-reliability", queue="docpipe-reliability"
    )


@pytest.fixture(scope="session")
def s3(rel_aws: AwsResources) -> Any:
    return boto3.client("s3", endpoint_url=rel_aws.endpoint_url, region_name=REGION)


@pytest.fixture(scope="session")
def sqs(rel_aws: AwsResources) -> Any:
    return boto3.client("sqs", endpoint_url=rel_aws.endpoint_url, region_name=REGION)


@pytest.fixture
def processor_env(
    migrated: EmbeddedPostgres, rel_aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """The processor pointed at the suite's bucket and queue, with fresh settings.

    Tests set more variables through the returned monkeypatch and call :func:`reload`.
    """
    monkeypatch.setenv("DOCUMENTS_BUCKET", rel_aws.bucket)
    monkeypatch.setenv("INGEST_QUEUE_URL", rel_aws.queue_url)
    reload(monkeypatch)
    return monkeypatch


def reload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the processor read its settings again (the pool and clients are kept)."""
    monkeypatch.setattr(processor, "_settings", None)
    monkeypatch.setattr(processor, "_embedder", None)


def batch(bucket: str, docs: list[StoredDoc], *, receive_count: int = 1) -> dict[str, Any]:
    """One SQS batch: a message per document, in order."""
    return sqs_event(*[d.body(bucket) for d in docs], receive_count=receive_count)


def failed_ids(event: dict[str, Any], result: dict[str, Any]) -> list[int]:
    """Positions in ``event`` of the messages the handler reported as failed."""
    ids = [r["messageId"] for r in event["Records"]]
    return sorted(ids.index(f["itemIdentifier"]) for f in result["batchItemFailures"])


async def doc_row(admin: asyncpg.Connection, doc_id: uuid.UUID) -> dict[str, Any]:
    row = await admin.fetchrow("select * from documents where id = $1", doc_id)
    assert row is not None
    return dict(row)


def good_text(tag: str) -> bytes:
    """A valid, distinct text document (distinct bytes: never a duplicate of another)."""
    return (f"Control document {tag}. " + "Remote work needs approval. " * 60).encode()


@pytest.fixture
def tenants() -> Iterator[list[str]]:
    """Tenants a test creates, for the nothing-lost check at its end."""
    yield []


BEDROCK_DB = "docpipe_reliability_bedrock"
COHERE_V4 = "cohere.embed-v4:0"
BEDROCK_DIMENSIONS = 1024


@pytest.fixture(scope="session")
def bedrock() -> Iterator[ScheduledBedrock]:
    with ScheduledBedrock() as server:
        yield server


@pytest.fixture
async def bedrock_env(
    processor_env: pytest.MonkeyPatch, migrated: EmbeddedPostgres, bedrock: ScheduledBedrock
) -> AsyncIterator[asyncpg.Connection]:
    """The processor on Cohere Embed v4 (local Bedrock-format server) and a 1024-d database.

    Yields a superuser connection to that database.
    """
    admin = await asyncpg.connect(migrated.admin_dsn)
    if not await admin.fetchval("select 1 from pg_database where datname = $1", BEDROCK_DB):
        await admin.execute(f'create database "{BEDROCK_DB}"')
    await admin.close()
    admin = await asyncpg.connect(migrated.dsn(database=BEDROCK_DB))
    await apply_migrations(admin, embedding_dimensions=BEDROCK_DIMENSIONS)
    for key, value in {
        "DATABASE_URL": migrated.dsn(user=None, database=BEDROCK_DB),
        "EMBEDDING_PROVIDER": "bedrock",
        "EMBEDDING_MODEL_ID": COHERE_V4,
        "EMBEDDING_DIMENSIONS": str(BEDROCK_DIMENSIONS),
        "BEDROCK_ENDPOINT_URL": bedrock.url,
    }.items():
        processor_env.setenv(key, value)
    reload(processor_env)
    bedrock.reset()
    await close_pool()  # one pool per process: reopen it on the 1024-d database
    yield admin
    await admin.close()
    bedrock.reset()
    await close_pool()


class ScheduledBedrock(BedrockServer):
    """The Bedrock-format server with faults planned by request number (0-based)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = 0
        self._plan: dict[int, Fault] = {}

    def fail_requests(self, numbers: range, fault: Fault) -> None:
        """Answer requests ``numbers`` (counted from the last reset) with ``fault``."""
        with self._lock:
            self._plan.update(dict.fromkeys(numbers, fault))

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._seen, self._plan = 0, {}

    def texts_embedded(self) -> list[str]:
        """Every text of every successful call, in order (repeats included)."""
        return [t for body in self.bodies(COHERE_V4) for t in body["texts"]]

    def _enter(self, model_id: str) -> Fault | None:
        fault = super()._enter(model_id)
        with self._lock:
            number, self._seen = self._seen, self._seen + 1
            planned = self._plan.pop(number, None)
        return fault or planned
