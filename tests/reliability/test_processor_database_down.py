"""The processor with its database unreachable: every message of the batch comes back,
after one connect budget (not one per message), and the handler does not raise.

Real components: a closed port on 127.0.0.1, and a PostgreSQL server of this module's own
that is stopped between two batches and started again.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
import pytest

from docpipe.common.keys import document_key
from docpipe.devstack.embedded import AwsResources, free_port
from docpipe.processor import handler as processor
from docpipe.testkit.documents import put_document
from docpipe.testkit.events import s3_record, sqs_event
from docpipe.testkit.postgres_process import PostgresProcess
from tests.reliability.conftest import batch, failed_ids, good_text, reload

BUDGET_S = 2.0
SLACK_S = 3.0

pytestmark = pytest.mark.usefixtures("fresh_pool")


def _configure(env: pytest.MonkeyPatch, dsn: str) -> None:
    env.setenv("DATABASE_URL", dsn)
    env.setenv("DATABASE_CONNECT_BUDGET_SECONDS", str(BUDGET_S))
    reload(env)


async def _timed(event: dict[str, Any]) -> tuple[list[int], float]:
    started = time.perf_counter()
    result = await processor.handle_event(event)  # must not raise
    return failed_ids(event, result), time.perf_counter() - started


async def test_unreachable_database_returns_the_whole_batch_after_one_budget(
    processor_env: pytest.MonkeyPatch, rel_aws: AwsResources, s3: Any, tenant: str
) -> None:
    _configure(processor_env, f"postgresql://docpipe_processor@127.0.0.1:{free_port()}/docpipe")
    event = sqs_event(*[_unstored(s3, rel_aws.bucket, tenant, tag) for tag in "abcd"])
    failed, elapsed = await _timed(event)
    assert failed == [0, 1, 2, 3]
    assert BUDGET_S * 0.9 <= elapsed <= BUDGET_S + SLACK_S, f"{elapsed:.2f} s"


async def test_database_stopped_between_batches_then_back(
    processor_env: pytest.MonkeyPatch,
    own_database: PostgresProcess,
    rel_aws: AwsResources,
    s3: Any,
    tenant: str,
) -> None:
    _configure(processor_env, own_database.dsn(user="docpipe_processor", database="docpipe"))
    admin = await asyncpg.connect(own_database.dsn(database="docpipe"))
    try:
        docs = [
            await put_document(
                admin,
                s3,
                rel_aws.bucket,
                tenant=tenant,
                data=good_text(f"down-{i}"),
                filename=f"down-{i}.txt",
                content_type="text/plain",
            )  # fmt: skip
            for i in range(3)
        ]
    finally:
        await admin.close()
    assert (await _timed(batch(rel_aws.bucket, docs[:1])))[0] == []  # warm pool, one done

    own_database.stop()
    try:
        failed, elapsed = await _timed(batch(rel_aws.bucket, docs[1:]))
    finally:
        own_database.start()
    assert failed == [0, 1]
    assert elapsed <= BUDGET_S + SLACK_S, f"{elapsed:.2f} s for two messages"

    assert (await _timed(batch(rel_aws.bucket, docs[1:], receive_count=2)))[0] == []
    admin = await asyncpg.connect(own_database.dsn(database="docpipe"))
    try:
        statuses = await admin.fetch(
            "select status from documents where id = any($1::uuid[])", [d.id for d in docs]
        )
    finally:
        await admin.close()
    assert [r["status"] for r in statuses] == ["completed"] * 3


def _unstored(s3: Any, bucket: str, tenant: str, tag: str) -> dict[str, Any]:
    """An S3 notification for an object whose row the unreachable database would hold."""
    key = document_key(uploads_prefix="uploads/", tenant_id=tenant, document_id=uuid.uuid4())
    version = s3.put_object(Bucket=bucket, Key=key, Body=good_text(tag))["VersionId"]
    return {"Records": [s3_record(bucket=bucket, key=key, version_id=version)]}
