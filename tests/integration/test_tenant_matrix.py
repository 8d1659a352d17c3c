"""Tenant isolation across every endpoint of both services, and in the database itself.

Two tenants upload documents through the upload API (one file identical for both), the
real processor turns them into chunks, then tenant A probes everything it can reach:
it must never see, count, fetch, change or search tenant B's documents or chunks, and a
connection as the services' role with no tenant set sees no rows at all.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import boto3
import httpx
import jwt
import pytest

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.query.config import QuerySettings
from docpipe.query.main import create_app as create_query_app
from docpipe.testkit.events import s3_record, sqs_event
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app as create_upload_app

SECRET = "matrix-test-secret-0123456789abcdef"
SHARED = b"Shared onboarding checklist: laptop, badge, pineapple protocol training.\n"
ONLY_B = b"Confidential zebra quartz merger plan for tenant B only.\n"
ONLY_A = b"Tenant A travel policy: economy class for flights under six hours.\n"


def _token(tenant: str) -> str:
    claims = {"tenant_id": tenant, "sub": "u", "exp": int(time.time()) + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def queue(aws: AwsResources) -> str:
    sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    return str(sqs.create_queue(QueueName=f"matrix-{uuid.uuid4().hex[:8]}")["QueueUrl"])


class Tenant:
    def __init__(self, name: str, upload: httpx.AsyncClient, query: httpx.AsyncClient) -> None:
        self.name, self.upload, self.query = name, upload, query
        self.documents: dict[bytes, str] = {}


@pytest.fixture(scope="module")
async def world(
    migrated: EmbeddedPostgres, aws: AwsResources, queue: str
) -> AsyncIterator[dict[str, Tenant]]:
    upload_settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt", jwt_secret=SECRET, ingest_queue_url=queue
    )
    query_settings = QuerySettings(auth_mode="jwt", jwt_secret=SECRET)
    upload_app, query_app = create_upload_app(upload_settings), create_query_app(query_settings)
    tenants: dict[str, Tenant] = {}
    clients: list[httpx.AsyncClient] = []
    for label in ("a", "b"):
        name = f"matrix-{label}-{uuid.uuid4().hex[:8]}"
        headers = {"Authorization": f"Bearer {_token(name)}"}
        up = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=upload_app),
            base_url="http://upload.test",
            headers=headers,
        )
        qu = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=query_app),
            base_url="http://query.test",
            headers=headers,
        )
        clients += [up, qu]
        tenants[label] = Tenant(name, up, qu)
    await _ingest(tenants["a"], aws, [ONLY_A, SHARED])
    await _ingest(tenants["b"], aws, [ONLY_B, SHARED])
    yield tenants
    for client in clients:
        await client.aclose()


async def _ingest(tenant: Tenant, aws: AwsResources, files: list[bytes]) -> None:
    """Upload through the API, then run the real processor on each stored object."""
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    processor._settings = None  # type: ignore[attr-defined]
    processor._embedder = None  # type: ignore[attr-defined]
    for n, data in enumerate(files):
        response = await tenant.upload.post(
            "/v1/documents", files=[("file", (f"file{n}.txt", data, "text/plain"))]
        )
        assert response.status_code == 202, response.text
        [document] = response.json()["documents"]
        assert document["duplicate"] is False  # the other tenant's identical bytes are unseen
        tenant.documents[data] = document["id"]
    rows = []
    prefix = "uploads/"
    listing = s3.list_objects_v2(Bucket=aws.bucket, Prefix=prefix)
    keys = {o["Key"] for o in listing.get("Contents", [])}
    for doc_id in tenant.documents.values():
        [key] = [k for k in keys if k.endswith(doc_id)]
        version = s3.head_object(Bucket=aws.bucket, Key=key).get("VersionId")
        rows.append({"Records": [s3_record(bucket=aws.bucket, key=key, version_id=version)]})
    assert await processor.handle_event(sqs_event(*rows)) == {"batchItemFailures": []}
    for doc_id in tenant.documents.values():
        doc = (await tenant.upload.get(f"/v1/documents/{doc_id}")).json()
        assert doc["status"] == "completed" and doc["chunk_count"] >= 1, doc


def _ids(results: list[dict[str, Any]], key: str) -> set[str]:
    return {r[key] for r in results}


async def test_upload_endpoints_never_reveal_the_other_tenant(world: dict[str, Tenant]) -> None:
    a, b = world["a"], world["b"]
    b_ids = set(b.documents.values())
    listing = (await a.upload.get("/v1/documents", params={"limit": 100})).json()
    assert _ids(listing["documents"], "id") == set(a.documents.values())
    for status in ("completed", "queued", "failed"):
        page = (await a.upload.get("/v1/documents", params={"status": status})).json()
        assert not _ids(page["documents"], "id") & b_ids
    random_id = str(uuid.uuid4())
    for doc_id in [*b_ids, random_id]:
        responses = [
            await a.upload.get(f"/v1/documents/{doc_id}"),
            await a.upload.delete(f"/v1/documents/{doc_id}"),
            await a.upload.post(f"/v1/documents/{doc_id}/reprocess"),
        ]
        for response in responses:
            assert response.status_code == 404, response.text
    # Same answer for "B's document" and "no such document": no existence oracle.
    b_doc = (await a.upload.get(f"/v1/documents/{next(iter(b_ids))}")).json()
    missing = (await a.upload.get(f"/v1/documents/{random_id}")).json()
    assert {k: v for k, v in b_doc.items() if k != "detail"} == {
        k: v for k, v in missing.items() if k != "detail"
    }
    # B still has every document, unchanged, after A's delete/reprocess attempts.
    for doc_id in b_ids:
        doc = (await b.upload.get(f"/v1/documents/{doc_id}")).json()
        assert doc["status"] == "completed"


async def test_presign_for_the_same_bytes_is_independent_per_tenant(
    world: dict[str, Tenant],
) -> None:
    a = world["a"]
    response = await a.upload.post(
        "/v1/uploads",
        json={"filename": "x.txt", "content_type": "text/plain", "size_bytes": len(ONLY_B)},
    )
    assert response.status_code == 201, response.text
    assert response.json()["document"]["id"] not in world["b"].documents.values()


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
async def test_search_never_returns_the_other_tenants_chunks(
    world: dict[str, Tenant], mode: str
) -> None:
    a, b = world["a"], world["b"]
    b_ids = set(b.documents.values())
    for query in ("zebra quartz merger", "pineapple protocol onboarding", "policy plan"):
        response = await a.query.post(
            "/v1/search", json={"query": query, "mode": mode, "top_k": 50}
        )
        assert response.status_code == 200, response.text
        assert not _ids(response.json()["results"], "document_id") & b_ids
    secret = await a.query.post("/v1/search", json={"query": "zebra quartz", "mode": "keyword"})
    assert secret.json()["results"] == []
    # B finds its own secret; A's shared copy is A's own document.
    mine = await b.query.post("/v1/search", json={"query": "zebra quartz", "mode": mode})
    assert _ids(mine.json()["results"], "document_id") <= b_ids
    assert mine.json()["results"]
    shared = await a.query.post("/v1/search", json={"query": "pineapple protocol", "mode": mode})
    assert _ids(shared.json()["results"], "document_id") <= set(a.documents.values())


async def test_filtering_by_the_other_tenants_ids_finds_nothing(world: dict[str, Tenant]) -> None:
    a, b = world["a"], world["b"]
    b_ids = list(b.documents.values())
    for mode in ("hybrid", "vector", "keyword"):
        response = await a.query.post(
            "/v1/search",
            json={"query": "zebra quartz pineapple", "mode": mode, "document_ids": b_ids},
        )
        assert response.status_code == 200 and response.json()["results"] == []
    answer = await a.query.post(
        "/v1/answer", json={"query": "zebra quartz merger plan", "document_ids": b_ids}
    )
    assert answer.json()["citations"] == [] and answer.json()["model"] == "none"


async def test_answers_cite_only_the_callers_chunks(world: dict[str, Tenant]) -> None:
    a, b = world["a"], world["b"]
    body = (await a.query.post("/v1/answer", json={"query": "zebra quartz merger"})).json()
    assert "zebra" not in body["answer"].lower()
    assert not _ids(body["citations"], "document_id") & set(b.documents.values())
    shared = (await a.query.post("/v1/answer", json={"query": "pineapple protocol"})).json()
    assert _ids(shared["citations"], "document_id") == {a.documents[SHARED]}


async def test_the_database_itself_enforces_the_tenant(
    world: dict[str, Tenant], migrated: EmbeddedPostgres
) -> None:
    a, b = world["a"], world["b"]
    conn = await asyncpg.connect(migrated.app_dsn)
    try:
        assert await conn.fetchval("select current_user") == "docpipe_app"
        assert not await conn.fetchval(
            "select rolbypassrls or rolsuper from pg_roles where rolname = current_user"
        )
        for table in ("documents", "chunks", "embedding_cache"):
            assert await conn.fetchval(f"select count(*) from {table}") == 0, table
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", a.name)
            tenants = await conn.fetch("select distinct tenant_id from chunks")
            assert [r["tenant_id"] for r in tenants] == [a.name]
            b_id = uuid.UUID(b.documents[ONLY_B])
            assert (
                await conn.execute("update documents set filename = 'x' where id = $1", b_id)
                == "UPDATE 0"
            )
            assert (
                await conn.execute("delete from chunks where document_id = $1", b_id) == "DELETE 0"
            )
        # The setting was transaction-local: the pooled connection no longer carries it.
        assert await conn.fetchval("select count(*) from chunks") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await conn.execute("select set_config('app.tenant_id', $1, true)", a.name)
                await conn.execute(
                    "insert into documents (id, tenant_id, filename, content_type, size_bytes,"
                    " storage_key, status) values ($1, $2, 'f', 'text/plain', 1, $3, 'queued')",
                    uuid.uuid4(),
                    b.name,
                    f"x/{uuid.uuid4()}",
                )
    finally:
        await conn.close()
