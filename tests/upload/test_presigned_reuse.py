"""A presigned POST creates at most the one document it was issued for (issue 14).

The form stays valid for its lifetime and S3 accepts it as often as it is posted, so
each use makes a new object version of the document's key. Posted again, the new version
is deleted and the document keeps the version it was made from; posted after the
document was deleted, the object is deleted: nothing stays stored (and billed) that no
document shows or can delete. The upload service over HTTP, the browser's POST against
moto's S3, the processor's handler on the S3 notifications (versioned bucket: each
carries its version id).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import boto3
import httpx
import pytest

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.testkit.events import s3_record, sqs_event
from docpipe.testkit.tokens import sign
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app

SECRET = "presigned-reuse-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def _processor(
    migrated: EmbeddedPostgres, aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processor, "_settings", None)
    monkeypatch.setattr(processor, "_embedder", None)


@pytest.fixture
def s3(aws: AwsResources) -> Any:
    return boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")


@pytest.fixture
async def client(aws: AwsResources, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    queue = sqs.create_queue(QueueName=f"presigned-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt", jwt_secret=SECRET, ingest_queue_url=queue
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)),
        base_url="http://upload.test",
        headers={"Authorization": f"Bearer {sign(SECRET, tenant, sub='u')}"},
    ) as c:
        yield c


def _text(label: str) -> bytes:
    return f"{label} edition of the travel policy {uuid.uuid4()}\n".encode() * 4


async def _post(form: dict[str, Any], data: bytes) -> None:
    """What the browser does with the form."""
    async with httpx.AsyncClient() as browser:
        posted = await browser.post(
            form["url"], data=form["fields"], files={"file": ("t.txt", data, "text/plain")}
        )
    assert posted.status_code in (200, 201, 204), posted.text


def _versions(s3: Any, bucket: str, key: str) -> list[str]:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", []) if v["Key"] == key]


async def _notify(bucket: str, key: str, version: str) -> None:
    event = sqs_event({"Records": [s3_record(bucket=bucket, key=key, version_id=version)]})
    assert await processor.handle_event(event) == {"batchItemFailures": []}


async def test_a_presigned_post_used_again_or_after_delete_leaves_no_object(
    client: httpx.AsyncClient,
    s3: Any,
    aws: AwsResources,
    tenant: str,
    admin_conn: asyncpg.Connection,
) -> None:
    first = _text("first")
    issued = await client.post(
        "/v1/uploads",
        json={"filename": "travel.txt", "content_type": "text/plain", "size_bytes": len(first)},
    )
    assert issued.status_code == 201, issued.text
    document, form = issued.json()["document"], issued.json()["upload"]
    key, doc_id = form["fields"]["key"], uuid.UUID(document["id"])

    await _post(form, first)
    [made_from] = _versions(s3, aws.bucket, key)
    await _notify(aws.bucket, key, made_from)
    row = await admin_conn.fetchrow(
        "select status, object_version from documents where id = $1", doc_id
    )
    assert row is not None and (row["status"], row["object_version"]) == ("completed", made_from)

    # The same form again, other bytes: a second version, removed; the document unchanged.
    await _post(form, _text("second"))
    stray = next(v for v in _versions(s3, aws.bucket, key) if v != made_from)
    await _notify(aws.bucket, key, stray)
    assert _versions(s3, aws.bucket, key) == [made_from]
    texts = await admin_conn.fetch("select text from chunks where document_id = $1", doc_id)
    assert texts and all("first edition" in r["text"] for r in texts)
    tenant_documents = "select count(*) from documents where tenant_id = $1"
    assert await admin_conn.fetchval(tenant_documents, tenant) == 1

    # Deleted, then the form posted once more: the object has no document, so it goes.
    assert (await client.delete(f"/v1/documents/{doc_id}")).status_code == 204
    assert _versions(s3, aws.bucket, key) == []
    await _post(form, _text("third"))
    [orphan] = _versions(s3, aws.bucket, key)
    await _notify(aws.bucket, key, orphan)
    assert _versions(s3, aws.bucket, key) == []
    assert await admin_conn.fetchval(tenant_documents, tenant) == 0
