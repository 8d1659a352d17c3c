"""Document metadata (multipart, presigned, PATCH) and content links, over HTTP against real
Postgres and moto S3."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from docpipe.upload.config import UploadSettings
from tests.upload.test_upload_api import (  # noqa: F401 (fixtures)
    make_client,
    own_queue,
    settings,
    unique_text,
)

ORIGIN = "https://app.example.com"


@pytest.fixture
async def client(settings: UploadSettings, tenant: str) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811 (fixture)
    async with await make_client(settings, tenant) as c:
        yield c


async def _upload(
    client: httpx.AsyncClient, data: bytes, *, name: str = "a.txt", metadata: Any = None
) -> httpx.Response:
    form = {"metadata": json.dumps(metadata)} if metadata is not None else None
    return await client.post(
        "/v1/documents", files=[("file", (name, data, "text/plain"))], data=form
    )


async def test_metadata_set_at_upload_read_back_and_replaced_by_patch(
    client: httpx.AsyncClient,
) -> None:
    meta = {"department": "HR", "year": 2026, "final": True, "tags": ["leave", "policy"]}
    response = await _upload(client, unique_text("meta"), metadata=meta)
    assert response.status_code == 202, response.text
    document = response.json()["documents"][0]
    assert document["metadata"] == meta
    assert (await client.get(f"/v1/documents/{document['id']}")).json()["metadata"] == meta

    patched = await client.patch(
        f"/v1/documents/{document['id']}", json={"metadata": {"department": "Finance"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata"] == {"department": "Finance"}
    assert patched.json()["updated_at"] > document["updated_at"]
    listed = (await client.get("/v1/documents")).json()["documents"]
    assert [d["metadata"] for d in listed if d["id"] == document["id"]] == [
        {"department": "Finance"}
    ]
    cleared = await client.patch(f"/v1/documents/{document['id']}", json={"metadata": {}})
    assert cleared.json()["metadata"] == {}
    # A document uploaded without metadata has an empty object.
    plain = (await _upload(client, unique_text("plain"))).json()["documents"][0]
    assert plain["metadata"] == {}


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"bad key": "x"}, "must match"),
        ({"k": "x" * 257}, "at most 256"),
        ({f"k{i}": i for i in range(33)}, "at most 32 keys"),
        ({"k": {"nested": 1}}, "metadata.k"),
        ({"k": [1, 2]}, "metadata.k"),
        ({"k": None}, "metadata.k"),
        ({f"k{i}": "x" * 250 for i in range(32)}, "8192 bytes"),
    ],
)
async def test_invalid_metadata_is_422_naming_the_problem(
    client: httpx.AsyncClient, metadata: dict[str, Any], fragment: str
) -> None:
    multipart = await _upload(client, unique_text("bad"), metadata=metadata)
    assert multipart.status_code == 422, multipart.text
    assert fragment in multipart.json()["detail"]
    presigned = await client.post(
        "/v1/uploads",
        json={"filename": "a.txt", "content_type": "text/plain", "size_bytes": 10,
              "metadata": metadata},
    )  # fmt: skip
    assert presigned.status_code == 422 and "metadata" in presigned.json()["detail"]
    assert (await client.get("/v1/documents")).json()["documents"] == []  # nothing stored


async def test_metadata_form_field_must_be_a_json_object(client: httpx.AsyncClient) -> None:
    for text in ("[1, 2]", "{not json", "NaN"):
        response = await client.post(
            "/v1/documents",
            files=[("file", ("a.txt", unique_text("x"), "text/plain"))],
            data={"metadata": text},
        )
        assert response.status_code == 422, (text, response.text)


async def test_presigned_upload_carries_metadata(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/uploads",
        json={"filename": "big.pdf", "content_type": "application/pdf", "size_bytes": 2048,
              "metadata": {"department": "HR"}},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["document"]["metadata"] == {"department": "HR"}


async def test_patch_rules(client: httpx.AsyncClient, settings: UploadSettings) -> None:  # noqa: F811
    document = (await _upload(client, unique_text("p"))).json()["documents"][0]
    url = f"/v1/documents/{document['id']}"
    assert (await client.patch(url, json={})).status_code == 422
    assert (await client.patch(url, json={"metadata": None})).status_code == 422
    assert (await client.patch(url, json={"title": "x"})).status_code == 422
    missing = await client.patch(f"/v1/documents/{uuid.uuid4()}", json={"metadata": {}})
    assert missing.status_code == 404
    async with await make_client(settings, f"other-{uuid.uuid4().hex[:8]}") as other:
        assert (await other.patch(url, json={"metadata": {"x": "y"}})).status_code == 404
    assert (await client.get(url)).json()["metadata"] == {}
    preflight = await client.options(
        url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"}
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["access-control-allow-methods"]


async def test_content_link_returns_the_original_bytes_and_name(
    client: httpx.AsyncClient,
    settings: UploadSettings,  # noqa: F811
) -> None:
    data = unique_text("original bytes")
    document = (await _upload(client, data, name="員工手冊 2026.txt")).json()["documents"][0]
    url = f"/v1/documents/{document['id']}/content"
    redirect = await client.get(url)
    assert redirect.status_code == 307, redirect.text
    assert redirect.headers["cache-control"] == "no-store"
    location = redirect.headers["location"]
    assert "X-Amz-Expires=300" in location or "Expires=" in location
    async with httpx.AsyncClient() as s3:  # no Authorization: the URL is the credential
        fetched = await s3.get(location)
    assert fetched.status_code == 200 and fetched.content == data
    disposition = fetched.headers["content-disposition"]
    assert disposition.startswith("inline;")
    assert "filename*=UTF-8''%E5%93%A1%E5%B7%A5%E6%89%8B%E5%86%8A%202026.txt" in disposition
    assert fetched.headers["content-type"].startswith("text/plain")

    as_json = await client.get(url, headers={"Accept": "application/json"})
    assert as_json.status_code == 200
    assert set(as_json.json()) == {"url", "expires_at"}

    async with await make_client(settings, f"other-{uuid.uuid4().hex[:8]}") as other:
        foreign = await other.get(url)
    assert foreign.status_code == 404 and "location" not in foreign.headers
    assert (await client.get(f"/v1/documents/{uuid.uuid4()}/content")).status_code == 404


async def test_content_link_waits_for_the_presigned_upload(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/uploads", json={"filename": "later.pdf", "content_type": "application/pdf",
                             "size_bytes": 100},
    )  # fmt: skip
    document_id = created.json()["document"]["id"]
    response = await client.get(f"/v1/documents/{document_id}/content")
    assert response.status_code == 409
