"""Per-tenant quotas (docpipe.upload.quotas): documents, stored bytes, uploads per minute,
reprocessing per document per hour. Over a quota: 429 problem+json with ``Retry-After``;
another tenant is unaffected; nothing is stored or counted for a refused request.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import boto3
import httpx
import pytest

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.testkit.tokens import sign
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import QUOTA_PROBLEM_TYPE, create_app

SECRET = "quota-test-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def queue(aws: AwsResources) -> str:
    sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    return str(sqs.create_queue(QueueName=f"quotas-{uuid.uuid4().hex[:8]}")["QueueUrl"])


Clients = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def _service(queue: str, **quotas: Any) -> AsyncIterator[Clients]:
    settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt", jwt_secret=SECRET, ingest_queue_url=queue, **quotas
    )
    app = create_app(settings)
    opened: list[httpx.AsyncClient] = []

    def client(tenant: str) -> httpx.AsyncClient:
        token = sign(SECRET, tenant, sub="u")
        opened.append(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://upload.test",
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        return opened[-1]

    try:
        yield client
    finally:
        for c in opened:
            await c.aclose()


def _tenant() -> str:
    return f"quota-{uuid.uuid4().hex[:10]}"


async def _upload(client: httpx.AsyncClient, *blobs: bytes) -> httpx.Response:
    files = [("file", (f"f{i}.txt", b, "text/plain")) for i, b in enumerate(blobs)]
    return await client.post("/v1/documents", files=files)


def _blob(size: int = 40) -> bytes:
    return (uuid.uuid4().hex * (size // 32 + 1)).encode()[:size]


def _assert_429(response: httpx.Response, quota: str) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == QUOTA_PROBLEM_TYPE and body["quota"] == quota, body
    assert body["status"] == 429 and body["title"] == "Too Many Requests"
    return int(response.headers["retry-after"])


async def _count(admin: asyncpg.Connection, tenant: str) -> int:
    return int(await admin.fetchval("select count(*) from documents where tenant_id = $1", tenant))


async def test_uploads_per_minute(
    migrated: EmbeddedPostgres, aws: AwsResources, queue: str, admin_conn: asyncpg.Connection
) -> None:
    a, b = _tenant(), _tenant()
    async with _service(queue, quota_uploads_per_minute=3) as client:
        assert (await _upload(client(a), _blob(), _blob(), _blob())).status_code == 202
        wait = _assert_429(await _upload(client(a), _blob()), "uploads_per_minute")
        assert 0 < wait <= 20  # 3 a minute: the next slot frees 20 s after the burst
        presign = await client(a).post(
            "/v1/uploads", json={"filename": "p.txt", "content_type": "text/plain", "size_bytes": 9}
        )
        _assert_429(presign, "uploads_per_minute")
        too_many = await _upload(client(b), _blob(), _blob(), _blob(), _blob())
        assert "at once" in too_many.json()["detail"]
        _assert_429(too_many, "uploads_per_minute")
        # Another tenant is unaffected (and its refused request above took nothing).
        assert (await _upload(client(b), _blob(), _blob(), _blob())).status_code == 202
    assert await _count(admin_conn, a) == 3 and await _count(admin_conn, b) == 3


async def test_document_and_storage_quotas_per_tenant_override(
    migrated: EmbeddedPostgres, aws: AwsResources, queue: str, admin_conn: asyncpg.Connection
) -> None:
    a, b, c = _tenant(), _tenant(), _tenant()
    await admin_conn.execute(
        "insert into tenant_quotas (tenant_id, max_documents) values ($1, 2)", a
    )
    await admin_conn.execute(
        "insert into tenant_quotas (tenant_id, max_stored_bytes) values ($1, 100)", c
    )
    async with _service(queue, quota_max_documents=50) as client:
        first, second = _blob(), _blob()
        assert (await _upload(client(a), first, second)).status_code == 202
        wait = _assert_429(await _upload(client(a), _blob()), "max_documents")
        assert wait == 3600
        # The same bytes again cost nothing: a duplicate is answered, not stored.
        again = await _upload(client(a), first)
        assert again.status_code == 202 and again.json()["documents"][0]["duplicate"] is True
        # Another tenant: the default (50) applies.
        assert (await _upload(client(b), _blob(), _blob(), _blob())).status_code == 202
        # Deleting frees room at once.
        listed = (await client(a).get("/v1/documents")).json()["documents"]
        assert (await client(a).delete(f"/v1/documents/{listed[0]['id']}")).status_code == 204
        assert (await _upload(client(a), _blob())).status_code == 202

        assert (await _upload(client(c), _blob(80))).status_code == 202
        _assert_429(await _upload(client(c), _blob(30)), "max_stored_bytes")
        presign = await client(c).post(
            "/v1/uploads",
            json={"filename": "p.txt", "content_type": "text/plain", "size_bytes": 50},
        )
        _assert_429(presign, "max_stored_bytes")
        assert (await _upload(client(c), _blob(20))).status_code == 202
    usage = await admin_conn.fetchrow(
        "select documents, stored_bytes from tenant_usage where tenant_id = $1", c
    )
    assert usage is not None and (usage["documents"], usage["stored_bytes"]) == (2, 100)


async def test_concurrent_uploads_never_exceed_the_document_quota(
    migrated: EmbeddedPostgres, aws: AwsResources, queue: str, admin_conn: asyncpg.Connection
) -> None:
    """Twelve uploads at once (several Lambda instances would look the same to the
    database): exactly the quota's five get in."""
    tenant = _tenant()
    async with _service(queue, quota_max_documents=5) as client:
        responses = await asyncio.gather(*(_upload(client(tenant), _blob()) for _ in range(12)))
    assert sorted(r.status_code for r in responses) == [202] * 5 + [429] * 7
    assert await _count(admin_conn, tenant) == 5
    usage = await admin_conn.fetchval(
        "select documents from tenant_usage where tenant_id = $1", tenant
    )
    assert usage == 5


async def test_reprocess_per_document_per_hour(
    migrated: EmbeddedPostgres, aws: AwsResources, queue: str, admin_conn: asyncpg.Connection
) -> None:
    tenant = _tenant()
    async with _service(queue, quota_reprocess_per_document_per_hour=2) as client:
        uploaded = (await _upload(client(tenant), _blob(), _blob())).json()["documents"]
        one, two = (d["id"] for d in uploaded)
        await admin_conn.execute(  # as if processed: reprocess needs a settled document
            "update documents set status = 'completed' where id = any($1::uuid[])",
            [uuid.UUID(one), uuid.UUID(two)],
        )
        for _ in range(2):
            response = await client(tenant).post(f"/v1/documents/{one}/reprocess")
            assert response.status_code == 202, response.text
            await admin_conn.execute(
                "update documents set status = 'completed' where id = $1", uuid.UUID(one)
            )
        wait = _assert_429(
            await client(tenant).post(f"/v1/documents/{one}/reprocess"),
            "reprocess_per_document_per_hour",
        )
        assert 1790 <= wait <= 1801  # 2 an hour: a slot frees every 30 minutes
        row = await admin_conn.fetchrow(
            "select status from documents where id = $1", uuid.UUID(one)
        )
        assert row is not None and row["status"] == "completed"  # the refusal changed nothing
        # The quota is per document: the other one may still be reprocessed.
        assert (await client(tenant).post(f"/v1/documents/{two}/reprocess")).status_code == 202


async def test_zero_means_no_limit(
    migrated: EmbeddedPostgres, aws: AwsResources, queue: str, admin_conn: asyncpg.Connection
) -> None:
    tenant = _tenant()
    await admin_conn.execute(
        "insert into tenant_quotas (tenant_id, uploads_per_minute, max_documents)"
        " values ($1, 0, 0)",
        tenant,
    )
    async with _service(queue, quota_uploads_per_minute=1, quota_max_documents=1) as client:
        for _ in range(3):
            assert (await _upload(client(tenant), _blob(), _blob())).status_code == 202
    assert await _count(admin_conn, tenant) == 6
