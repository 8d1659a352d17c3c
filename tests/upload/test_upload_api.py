"""The upload service over HTTP (in-process ASGI) against real Postgres and moto S3/SQS.

Callers authenticate with HS256 JWTs, one fresh tenant per test. The moto bucket notifies
the shared test queue on every upload, so queue assertions use a queue of this module's
own (INGEST_QUEUE_URL of the app under test) or filter by key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, unquote_plus

import asyncpg
import boto3
import httpx
import jwt
import pytest

from docpipe.common.keys import document_key, tenant_prefix
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.testkit.queues import drain
from docpipe.testkit.s3_post_policy import policy_violation
from docpipe.testkit.tokens import ISSUER, http_api_claims
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app
from tests.conftest import TEST_DIMENSIONS

SECRET = "upload-test-secret-0123456789abcdef"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
MARKDOWN = b"# Handbook\n\n- item one\n- item two\n\nSee [the policy](https://example.com).\n"
PROBLEM_JSON = "application/problem+json"


def token(tenant: str, **claims: Any) -> str:
    payload = {
        "tenant_id": tenant, "sub": "user-1", "iss": ISSUER, "exp": int(time.time()) + 600,
        **claims,
    }  # fmt: skip
    return jwt.encode(payload, SECRET, algorithm="HS256")


def unique_text(label: str = "") -> bytes:
    return f"{label} notes {uuid.uuid4()}\nsecond line\n".encode()


@pytest.fixture(scope="module")
def own_queue(aws: AwsResources) -> str:
    """A queue only this module's reprocess requests reach."""
    sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    return str(sqs.create_queue(QueueName=f"upload-reprocess-{uuid.uuid4().hex[:8]}")["QueueUrl"])


@pytest.fixture
def s3(aws: AwsResources) -> Any:
    return boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")


@pytest.fixture
def settings(migrated: EmbeddedPostgres, aws: AwsResources, own_queue: str) -> UploadSettings:
    return UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt",
        jwt_secret=SECRET,
        ingest_queue_url=own_queue,
        max_api_upload_bytes=64 * 1024,
        max_upload_bytes=1024 * 1024,
        max_files_per_request=3,
        cors_origins="https://app.example.com",
    )


async def make_client(settings: UploadSettings, tenant: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token(tenant)}"} if tenant else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)),
        base_url="http://upload.test",
        headers=headers,
    )


@pytest.fixture
async def client(settings: UploadSettings, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    async with await make_client(settings, tenant) as c:
        yield c


async def upload(client: httpx.AsyncClient, *files: tuple[str, bytes]) -> httpx.Response:
    parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
    return await client.post("/v1/documents", files=parts)


async def raw_upload(client: httpx.AsyncClient, filename: bytes, data: bytes) -> httpx.Response:
    """A hand-built multipart body: httpx (like browsers) percent-encodes control characters
    in filenames, but a hostile client need not."""
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + data
        + b"\r\n--b0undary--\r\n"
    )
    return await client.post(
        "/v1/documents",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )


def key_of(settings: UploadSettings, tenant: str, document_id: str) -> str:
    return document_key(
        uploads_prefix=settings.uploads_prefix, tenant_id=tenant, document_id=uuid.UUID(document_id)
    )


def versions(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    page = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return list(page.get("Versions", [])) + list(page.get("DeleteMarkers", []))


async def tenant_rows(admin: asyncpg.Connection, tenant: str) -> int:
    return int(await admin.fetchval("select count(*) from documents where tenant_id = $1", tenant))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# --- health, auth, OpenAPI, CORS, Lambda entry point ------------------------------------


async def test_healthz_needs_no_auth(settings: UploadSettings) -> None:
    async with await make_client(settings, None) as anonymous:
        response = await anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_requests_without_valid_token_are_401(settings: UploadSettings, tenant: str) -> None:
    async with await make_client(settings, None) as anonymous:
        for method, path in [
            ("GET", "/v1/documents"),
            ("GET", f"/v1/documents/{uuid.uuid4()}"),
            ("POST", "/v1/documents"),
            ("POST", "/v1/uploads"),
            ("DELETE", f"/v1/documents/{uuid.uuid4()}"),
            ("POST", f"/v1/documents/{uuid.uuid4()}/reprocess"),
        ]:
            assert_problem(await anonymous.request(method, path), 401)
        bad = jwt.encode(
            {"tenant_id": tenant, "iss": ISSUER, "exp": int(time.time()) + 60},
            "wrong-secret-x" * 3,
            algorithm="HS256",
        )
        response = await anonymous.get("/v1/documents", headers={"Authorization": f"Bearer {bad}"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_openapi_declares_problem_json_for_every_error(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert len(operations) == 9  # with PATCH and GET /content
    for operation in operations:
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == [PROBLEM_JSON], operation["operationId"]
    upload_op = document["paths"]["/v1/documents"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]


async def test_cors_preflight_allows_configured_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/documents",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    other = await client.options(
        "/v1/documents",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_lambda_handler_serves_api_gateway_events(
    migrated: EmbeddedPostgres, aws: AwsResources, tenant: str
) -> None:
    """The Mangum handler, in a fresh process with AUTH_MODE=apigateway (claims in event)."""
    script = """
import json, sys
import docpipe.upload.main as main
assert "app" not in vars(main)  # nothing built at import
from docpipe.testkit.events import http_api_event
claims = json.loads(sys.argv[1])
out = [main.handler(http_api_event("GET", p, claims=c), None) for p, c in [
    ("/healthz", None), ("/v1/documents", None), ("/v1/documents", claims)]]
assert not any(r["isBase64Encoded"] for r in out)
print(json.dumps([[r["statusCode"], json.loads(r["body"])] for r in out]))
"""
    env = {**os.environ, "AUTH_MODE": "apigateway", "DATABASE_URL": migrated.services_dsn}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(http_api_claims(tenant))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (health, anonymous, listed) = json.loads(result.stdout.strip().splitlines()[-1])
    assert health == [200, {"status": "ok"}]
    assert anonymous[0] == 401
    assert listed == [200, {"documents": [], "next_cursor": None}]


# --- POST /v1/documents ------------------------------------------------------------------


async def test_upload_stores_row_and_object_with_safe_key_and_metadata(
    client: httpx.AsyncClient, settings: UploadSettings, tenant: str, s3: Any
) -> None:
    data = unique_text("Ärzte")
    name = "../../etc/年度\t報告 A\u0308rzte\x07\u202e.txt"  # decomposed Ä: stored as NFC
    response = await raw_upload(client, name.encode(), data)
    assert response.status_code == 202, response.text
    (doc,) = response.json()["documents"]
    assert doc["duplicate"] is False and doc["status"] == "queued"
    assert doc["filename"] == "年度 報告 Ärzte.txt"
    assert doc["content_type"] == "text/plain" and doc["size_bytes"] == len(data)
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["page_count"] is None and doc["error"] is None and doc["processed_at"] is None

    key = key_of(settings, tenant, doc["id"])
    head = s3.head_object(Bucket=settings.documents_bucket, Key=key)
    stored = s3.get_object(Bucket=settings.documents_bucket, Key=key)["Body"].read()
    assert stored == data
    assert head["Metadata"]["document-id"] == doc["id"]
    assert unquote(head["Metadata"]["filename"]) == "年度 報告 Ärzte.txt"
    assert unquote(head["Metadata"]["tenant"]) == tenant

    fetched = await client.get(f"/v1/documents/{doc['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == {k: v for k, v in doc.items() if k != "duplicate"}


async def test_upload_detects_types_from_bytes_not_names(client: httpx.AsyncClient) -> None:
    response = await upload(
        client,
        ("report.txt", PDF + uuid.uuid4().bytes.hex().encode()),
        ("notes.txt", MARKDOWN + unique_text()),
        ("readme.md", unique_text("plain")),
    )
    assert response.status_code == 202, response.text
    types = [d["content_type"] for d in response.json()["documents"]]
    assert types == ["application/pdf", "text/markdown", "text/markdown"]


async def test_duplicate_bytes_return_existing_document_without_new_object(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
    admin_conn: asyncpg.Connection,
) -> None:
    data = unique_text("dup")
    first = (await upload(client, ("a.txt", data))).json()["documents"][0]
    again = await upload(client, ("renamed.txt", data))
    assert again.status_code == 202
    second = again.json()["documents"][0]
    assert second["duplicate"] is True and second["id"] == first["id"]
    assert second["filename"] == "a.txt"
    prefix = tenant_prefix(uploads_prefix=settings.uploads_prefix, tenant_id=tenant)
    assert len(versions(s3, settings.documents_bucket, prefix)) == 1
    assert await tenant_rows(admin_conn, tenant) == 1

    other = f"{tenant}-other"
    async with await make_client(settings, other) as other_client:
        theirs = (await upload(other_client, ("a.txt", data))).json()["documents"][0]
    assert theirs["duplicate"] is False and theirs["id"] != first["id"]


async def test_concurrent_identical_uploads_make_one_document(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
    admin_conn: asyncpg.Connection,
) -> None:
    data = unique_text("race")
    responses = await asyncio.gather(*(upload(client, (f"r{i}.txt", data)) for i in range(4)))
    docs = [r.json()["documents"][0] for r in responses]
    assert len({d["id"] for d in docs}) == 1
    assert sorted(d["duplicate"] for d in docs) == [False, True, True, True]
    prefix = tenant_prefix(uploads_prefix=settings.uploads_prefix, tenant_id=tenant)
    assert len(versions(s3, settings.documents_bucket, prefix)) == 1
    assert await tenant_rows(admin_conn, tenant) == 1


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ([("empty.txt", b"")], 422),
        ([("image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)], 415),
        ([("bad.txt", b"caf\xe9 latin-1, not utf-8")], 415),
        ([("fake.pdf", b"MZ\x90\x00 an executable renamed .pdf")], 415),
        ([("../..", b"text")], 422),
        ([("ok.txt", b"fine text"), ("bad.bin", b"\x00\x01\x02")], 415),
        ([(f"f{i}.txt", f"file {i}".encode()) for i in range(4)], 422),
        ([("big.txt", b"a" * (64 * 1024))], 413),
    ],
    ids=["empty", "png", "latin1", "exe-as-pdf", "dots", "one-bad-of-two", "too-many", "too-large"],
)
async def test_rejected_uploads_store_nothing(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
    admin_conn: asyncpg.Connection,
    files: list[tuple[str, bytes]],
    status: int,
) -> None:
    assert_problem(await upload(client, *files), status)
    assert await tenant_rows(admin_conn, tenant) == 0
    prefix = tenant_prefix(uploads_prefix=settings.uploads_prefix, tenant_id=tenant)
    assert versions(s3, settings.documents_bucket, prefix) == []


@pytest.mark.parametrize("filename", ["\x00\x01\u202e", "..\\..\\", " . ", "\t\x0b\x7f", ""])
async def test_filenames_with_nothing_left_are_422(
    client: httpx.AsyncClient, tenant: str, admin_conn: asyncpg.Connection, filename: str
) -> None:
    assert_problem(await raw_upload(client, filename.encode(), b"some text"), 422)
    assert await tenant_rows(admin_conn, tenant) == 0


async def test_malformed_multipart_requests_are_400_or_415(client: httpx.AsyncClient) -> None:
    assert_problem(
        await client.post(
            "/v1/documents", data={"other": "x"}, files=[("attachment", ("a.txt", b"text"))]
        ),
        400,
    )
    assert_problem(
        await client.post(
            "/v1/documents", data={"file": "not a file"}, files=[("x", ("a.txt", b"t"))]
        ),
        400,
    )
    assert_problem(
        await client.post(
            "/v1/documents", content=b"--x\r\n", headers={"content-type": "multipart/form-data"}
        ),
        400,
    )
    assert_problem(
        await client.post(
            "/v1/documents",
            content=b"garbage",
            headers={"content-type": "multipart/form-data; boundary=b", "content-length": "7"},
        ),
        400,
    )
    assert_problem(await client.post("/v1/documents", json={"file": "x"}), 415)


async def test_oversized_bodies_are_cut_off_by_length_or_by_counting(
    client: httpx.AsyncClient, admin_conn: asyncpg.Connection, tenant: str
) -> None:
    boundary = "bnd"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'
    ).encode()
    declared = await client.post(
        "/v1/documents",
        content=head + b"a" * 10,
        headers={
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(10 * 1024 * 1024),
        },
    )
    assert "10485760" not in assert_problem(declared, 413)["detail"]
    sent = 0

    async def stream() -> AsyncIterator[bytes]:  # chunked: no Content-Length at all
        nonlocal sent
        yield head
        for _ in range(1024):
            sent += 8192
            yield b"a" * 8192

    multipart = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = await client.post("/v1/documents", content=stream(), headers=multipart)
    assert_problem(response, 413)
    assert sent < 200 * 1024  # reading stopped near the 64 KiB cap, not after 8 MiB
    assert await tenant_rows(admin_conn, tenant) == 0


async def test_failed_object_write_removes_the_row_and_answers_503(
    settings: UploadSettings, tenant: str, admin_conn: asyncpg.Connection
) -> None:
    broken = settings.model_copy(update={"documents_bucket": "no-such-bucket-docpipe"})
    async with await make_client(broken, tenant) as client:
        assert_problem(await upload(client, ("a.txt", unique_text())), 503)
    assert await tenant_rows(admin_conn, tenant) == 0


# --- GET /v1/documents/{id}, GET /v1/documents ------------------------------------------


async def test_other_tenants_documents_are_404_everywhere(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    admin_conn: asyncpg.Connection,
) -> None:
    doc = (await upload(client, ("mine.txt", unique_text()))).json()["documents"][0]
    async with await make_client(settings, f"{tenant}-intruder") as intruder:
        for method, path in [
            ("GET", f"/v1/documents/{doc['id']}"),
            ("DELETE", f"/v1/documents/{doc['id']}"),
            ("POST", f"/v1/documents/{doc['id']}/reprocess"),
        ]:
            body = assert_problem(await intruder.request(method, path), 404)
            missing = assert_problem(
                await intruder.request(method, path.replace(doc["id"], str(uuid.uuid4()))), 404
            )
            assert body["title"] == missing["title"]
        assert (await intruder.get("/v1/documents")).json()["documents"] == []
    assert await tenant_rows(admin_conn, tenant) == 1


async def test_invalid_ids_and_list_parameters_are_rejected(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/documents/not-a-uuid"), 422)
    assert_problem(await client.delete("/v1/documents/123"), 422)
    for query in ["limit=0", "limit=101", "limit=x", "status=done"]:
        assert_problem(await client.get(f"/v1/documents?{query}"), 422)
    for cursor in ["%%%", "bm90LWpzb24", base64.urlsafe_b64encode(b'{"c":1}').decode(), "x" * 600]:
        assert_problem(await client.get("/v1/documents", params={"cursor": cursor}), 400)


async def test_list_pages_through_every_document_exactly_once(
    client: httpx.AsyncClient, tenant: str, admin_conn: asyncpg.Connection
) -> None:
    uploaded = [
        (await upload(client, (f"d{i}.txt", unique_text(str(i))))).json()["documents"][0]
        for i in range(3)
    ]
    same_instant = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(4):  # rows sharing created_at exercise the id tie-breaker
        doc_id = uuid.uuid4()
        await admin_conn.execute(
            "insert into documents (id, tenant_id, filename, content_type, size_bytes, sha256,"
            " storage_key, status, created_at) values ($1, $2, $3, 'text/plain', 1, $4, $5,"
            " 'failed', $6)",
            doc_id,
            tenant,
            f"old{i}.txt",
            hashlib.sha256(doc_id.bytes).hexdigest(),
            f"uploads/test/{doc_id}",
            same_instant,
        )
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/documents", params=params)).json()
        pages += 1
        seen += page["documents"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and len(seen) == 7 and len({d["id"] for d in seen}) == 7
    assert [d["id"] for d in seen[:3]] == [d["id"] for d in reversed(uploaded)]
    keys = [(d["created_at"], d["id"]) for d in seen]
    assert keys == sorted(keys, reverse=True)
    failed = (await client.get("/v1/documents", params={"status": "failed"})).json()
    assert len(failed["documents"]) == 4 and failed["next_cursor"] is None
    assert {d["status"] for d in failed["documents"]} == {"failed"}
    default = (await client.get("/v1/documents")).json()
    assert len(default["documents"]) == 7 and default["next_cursor"] is None


# --- DELETE /v1/documents/{id} ----------------------------------------------------------


async def test_delete_removes_every_version_chunks_and_unshared_cache(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
    admin_conn: asyncpg.Connection,
) -> None:
    doc, keep = (
        await upload(client, ("gone.txt", unique_text("gone")), ("keep.txt", unique_text("keep")))
    ).json()["documents"]
    key = key_of(settings, tenant, doc["id"])
    s3.put_object(Bucket=settings.documents_bucket, Key=key, Body=b"second version")
    assert len(versions(s3, settings.documents_bucket, key)) == 2
    vector = [0.1] * TEST_DIMENSIONS
    for ordinal, (document_id, text) in enumerate(
        [(doc["id"], "only here"), (doc["id"], "shared"), (keep["id"], "shared")]
    ):
        sha = hashlib.sha256(text.encode()).hexdigest()
        await admin_conn.execute(
            "insert into chunks (id, tenant_id, document_id, ordinal, page_start, page_end, text,"
            " content_sha256, embedding, keywords) values ($1, $2, $3, $4, 1, 1, $5, $6, $7,"
            " to_tsvector('simple', $5))",
            uuid.uuid4(),
            tenant,
            uuid.UUID(document_id),
            ordinal,
            text,
            sha,
            vector,
        )
        await admin_conn.execute(
            "insert into embedding_cache (tenant_id, model_id, content_sha256, embedding)"
            " values ($1, 'm', $2, $3) on conflict do nothing",
            tenant,
            sha,
            vector,
        )

    response = await client.delete(f"/v1/documents/{doc['id']}")
    assert response.status_code == 204 and response.content == b""
    assert versions(s3, settings.documents_bucket, key) == []
    assert (
        await admin_conn.fetchval(
            "select count(*) from documents where id = $1", uuid.UUID(doc["id"])
        )
        == 0
    )
    assert (
        await admin_conn.fetchval(
            "select count(*) from chunks where document_id = $1", uuid.UUID(doc["id"])
        )
        == 0
    )
    cached = await admin_conn.fetch(
        "select content_sha256 from embedding_cache where tenant_id = $1", tenant
    )
    assert [r["content_sha256"] for r in cached] == [hashlib.sha256(b"shared").hexdigest()]
    assert_problem(await client.get(f"/v1/documents/{doc['id']}"), 404)
    assert_problem(await client.delete(f"/v1/documents/{doc['id']}"), 404)
    assert (await client.get(f"/v1/documents/{keep['id']}")).status_code == 200
    again = await upload(client, ("gone.txt", unique_text("gone")))
    assert again.json()["documents"][0]["duplicate"] is False


# --- POST /v1/documents/{id}/reprocess --------------------------------------------------


def receive_all(queue_url: str, endpoint: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="ap-northeast-1")
    return [json.loads(body) for body in drain(sqs, queue_url)]


async def test_reprocess_requeues_and_sends_an_s3_shaped_message(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
    admin_conn: asyncpg.Connection,
    aws: AwsResources,
) -> None:
    doc = (await upload(client, ("again me.txt", unique_text()))).json()["documents"][0]
    await admin_conn.execute(
        "update documents set status = 'completed', processed_version = 'v1', chunk_count = 3,"
        " error = null, processed_at = now() where id = $1",
        uuid.UUID(doc["id"]),
    )
    receive_all(settings.ingest_queue_url, aws.endpoint_url)

    response = await client.post(f"/v1/documents/{doc['id']}/reprocess")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"] == doc["id"] and body["status"] == "queued" and body["processed_at"] is None
    row = await admin_conn.fetchrow(
        "select status, processed_version from documents where id = $1", uuid.UUID(doc["id"])
    )
    assert row is not None and dict(row) == {"status": "queued", "processed_version": None}

    (message,) = receive_all(settings.ingest_queue_url, aws.endpoint_url)
    (record,) = message["Records"]
    key = key_of(settings, tenant, doc["id"])
    head = s3.head_object(Bucket=settings.documents_bucket, Key=key)
    assert record["eventSource"] == "aws:s3" and record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == settings.documents_bucket
    assert unquote_plus(record["s3"]["object"]["key"]) == key
    assert record["s3"]["object"]["size"] == doc["size_bytes"]
    assert record["s3"]["object"]["versionId"] == head["VersionId"]


async def test_reprocess_conflicts_while_awaiting_upload_processing_or_object_missing(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
    admin_conn: asyncpg.Connection,
    aws: AwsResources,
) -> None:
    pending = (
        await client.post(
            "/v1/uploads",
            json={"filename": "big.pdf", "content_type": "application/pdf", "size_bytes": 10},
        )
    ).json()
    assert_problem(await client.post(f"/v1/documents/{pending['document']['id']}/reprocess"), 409)

    doc = (await upload(client, ("busy.txt", unique_text()))).json()["documents"][0]
    await admin_conn.execute(
        "update documents set status = 'processing', processing_started_at = now() where id = $1",
        uuid.UUID(doc["id"]),
    )
    assert_problem(await client.post(f"/v1/documents/{doc['id']}/reprocess"), 409)

    await admin_conn.execute(
        "update documents set status = 'failed', error = 'boom' where id = $1", uuid.UUID(doc["id"])
    )
    key = key_of(settings, tenant, doc["id"])
    for version in versions(s3, settings.documents_bucket, key):
        s3.delete_object(Bucket=settings.documents_bucket, Key=key, VersionId=version["VersionId"])
    assert_problem(await client.post(f"/v1/documents/{doc['id']}/reprocess"), 409)
    status = await admin_conn.fetchval(
        "select status from documents where id = $1", uuid.UUID(doc["id"])
    )
    assert status == "failed"
    assert receive_all(settings.ingest_queue_url, aws.endpoint_url) == []


async def test_reprocess_restores_the_document_when_the_queue_is_down(
    settings: UploadSettings,
    tenant: str,
    admin_conn: asyncpg.Connection,
) -> None:
    broken = settings.model_copy(update={"ingest_queue_url": f"{settings.ingest_queue_url}-gone"})
    async with await make_client(broken, tenant) as client:
        doc = (await upload(client, ("x.txt", unique_text()))).json()["documents"][0]
        await admin_conn.execute(
            "update documents set status = 'completed', processed_version = 'v9' where id = $1",
            uuid.UUID(doc["id"]),
        )
        assert_problem(await client.post(f"/v1/documents/{doc['id']}/reprocess"), 503)
    row = await admin_conn.fetchrow(
        "select status, processed_version from documents where id = $1", uuid.UUID(doc["id"])
    )
    assert row is not None and dict(row) == {"status": "completed", "processed_version": "v9"}


# --- POST /v1/uploads (presigned POST) --------------------------------------------------


async def test_presigned_post_uploads_exactly_the_documents_key(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
) -> None:
    data = PDF + b"%" + b"x" * 100 + b"\n"
    response = await client.post(
        "/v1/uploads",
        json={
            "filename": "C:\\Users\\me\\Große Datei.pdf",
            "content_type": "application/pdf",
            "size_bytes": len(data),
        },
    )
    assert response.status_code == 201, response.text
    document, form = response.json()["document"], response.json()["upload"]
    assert document["status"] == "awaiting_upload" and document["sha256"] is None
    assert document["filename"] == "Große Datei.pdf" and document["size_bytes"] == len(data)
    key = key_of(settings, tenant, document["id"])
    fields = form["fields"]
    assert fields["key"] == key and form["max_bytes"] == len(data)
    assert fields["x-amz-meta-document-id"] == document["id"]
    assert unquote(fields["x-amz-meta-filename"]) == "Große Datei.pdf"
    expires = datetime.fromisoformat(form["expires_at"])
    assert timedelta(seconds=800) < expires - datetime.now(UTC) <= timedelta(seconds=900)

    check = {"bucket": settings.documents_bucket, "secret_key": "testing"}
    assert policy_violation(fields, file_size=len(data), **check) is None
    async with httpx.AsyncClient() as browser:
        posted = await browser.post(
            form["url"], data=fields, files={"file": ("ignored.pdf", data, "application/pdf")}
        )
    assert posted.status_code in (200, 201, 204), posted.text
    stored = s3.get_object(Bucket=settings.documents_bucket, Key=key)
    assert stored["Body"].read() == data
    assert stored["Metadata"]["document-id"] == document["id"]

    # What S3 itself refuses (moto does not evaluate POST policies; see s3_post_policy).
    assert "EntityTooLarge" in (policy_violation(fields, file_size=len(data) + 1, **check) or "")
    elsewhere = tenant_prefix(uploads_prefix=settings.uploads_prefix, tenant_id="victim")
    assert policy_violation(fields | {"key": f"{elsewhere}{uuid.uuid4()}"}, file_size=10, **check)
    assert policy_violation(fields | {"x-amz-meta-tenant": "victim"}, file_size=10, **check)
    assert policy_violation(fields | {"x-amz-meta-extra": "1"}, file_size=10, **check)
    assert policy_violation(fields, file_size=10, now=expires + timedelta(seconds=1), **check)
    assert (
        policy_violation(
            fields, file_size=10, bucket=settings.documents_bucket, secret_key="not-the-key"
        )
        == "SignatureDoesNotMatch"
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 2 * 1024 * 1024},
            413,
        ),
        ({"filename": "a.png", "content_type": "image/png", "size_bytes": 10}, 415),
        ({"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 0}, 422),
        ({"filename": "/", "content_type": "text/plain", "size_bytes": 5}, 422),
        ({"filename": "a.txt", "content_type": "text/plain"}, 422),
        ({"filename": "a.txt", "content_type": "text/plain", "size_bytes": 5, "key": "x"}, 422),
    ],
    ids=["too-large", "type", "zero-size", "no-name", "missing-size", "extra-field"],
)
async def test_presign_rejections_store_nothing(
    client: httpx.AsyncClient,
    tenant: str,
    admin_conn: asyncpg.Connection,
    body: dict[str, Any],
    status: int,
) -> None:
    assert_problem(await client.post("/v1/uploads", json=body), status)
    assert await tenant_rows(admin_conn, tenant) == 0
