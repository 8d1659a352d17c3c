"""A multi-file ``POST /v1/documents`` costs one transaction and concurrent object writes,
with the same outcomes file by file as before: duplicates (also within one request),
upload order in listings, nothing left behind when the store fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import boto3
import httpx
import pytest

from docpipe.common.keys import tenant_prefix
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.upload import intake
from docpipe.upload.config import UploadSettings
from tests.upload.test_upload_api import (
    SECRET,
    make_client,
    tenant_rows,
    unique_text,
    upload,
    versions,
)


@pytest.fixture
def settings(migrated: EmbeddedPostgres, aws: AwsResources) -> UploadSettings:
    return UploadSettings(auth_mode="jwt", jwt_secret=SECRET)  # type: ignore[call-arg]


@pytest.fixture
def s3(aws: AwsResources) -> Any:
    return boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")


@pytest.fixture
async def client(settings: UploadSettings, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    async with await make_client(settings, tenant) as c:
        yield c


def _counting(
    original: Callable[..., AbstractAsyncContextManager[Any]], opened: list[int]
) -> Callable[..., AbstractAsyncContextManager[Any]]:
    def counted(*args: Any, **kwargs: Any) -> AbstractAsyncContextManager[Any]:
        opened.append(1)
        return original(*args, **kwargs)

    return counted


async def test_ten_files_take_one_transaction_and_concurrent_writes(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []
    monkeypatch.setattr(intake, "tenant_transaction", _counting(intake.tenant_transaction, opened))
    in_flight, most = [0], [0]
    put = intake.put_object

    async def slow_put(**kwargs: Any) -> Any:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.05)  # long enough for sequential writes to show
        try:
            return await put(**kwargs)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(intake, "put_object", slow_put)
    files = [(f"f{i}.txt", unique_text(f"batch {i}")) for i in range(10)]

    response = await upload(client, *files)

    assert response.status_code == 202, response.text
    assert [d["filename"] for d in response.json()["documents"]] == [n for n, _ in files]
    assert len(opened) == 1
    assert most[0] == 10


async def test_same_bytes_twice_in_one_request_make_one_document(
    client: httpx.AsyncClient,
    settings: UploadSettings,
    tenant: str,
    s3: Any,
    admin_conn: asyncpg.Connection,
) -> None:
    a, b = unique_text("a"), unique_text("b")
    response = await upload(client, ("a.txt", a), ("b.txt", b), ("a-again.txt", a))

    docs = response.json()["documents"]
    assert [d["duplicate"] for d in docs] == [False, False, True]
    assert docs[2]["id"] == docs[0]["id"] and docs[2]["filename"] == "a.txt"
    assert await tenant_rows(admin_conn, tenant) == 2
    prefix = tenant_prefix(uploads_prefix=settings.uploads_prefix, tenant_id=tenant)
    assert len(versions(s3, settings.documents_bucket, prefix)) == 2
    listed = (await client.get("/v1/documents")).json()["documents"]
    assert [d["filename"] for d in listed] == ["b.txt", "a.txt"]  # newest (last sent) first


async def test_a_failed_store_leaves_no_row_of_the_request(
    settings: UploadSettings,
    tenant: str,
    admin_conn: asyncpg.Connection,
) -> None:
    existing = unique_text("kept")
    async with await make_client(settings, tenant) as client:
        assert (await upload(client, ("kept.txt", existing))).status_code == 202
    broken = settings.model_copy(update={"documents_bucket": "no-such-bucket-docpipe"})
    async with await make_client(broken, tenant) as client:
        response = await upload(
            client, ("x.txt", unique_text("x")), ("kept-again.txt", existing), ("y.txt", b"y")
        )
    assert response.status_code == 503
    assert await tenant_rows(admin_conn, tenant) == 1  # only the earlier document
