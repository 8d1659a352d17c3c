"""End to end on embedded defaults: upload API -> S3 -> SQS -> processor -> Postgres.

The upload service runs in-process (ASGI), S3 sends its own notifications to SQS (moto),
and the processor's Lambda handler consumes them exactly as on AWS.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pymupdf
import pytest

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.testkit.pump import pump_queue
from docpipe.testkit.tokens import ISSUER
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app

SECRET = "e2e-test-signing-key-with-enough-entropy"


@pytest.fixture
async def api(
    migrated: EmbeddedPostgres, aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setattr(processor, "_settings", None)
    monkeypatch.setattr(processor, "_embedder", None)
    settings = UploadSettings(auth_mode="jwt", jwt_secret=SECRET)  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://upload") as client:
        yield client


def _token(tenant: str) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "user-1", "tenant_id": tenant, "iss": ISSUER, "iat": now, "exp": now + 600},
        SECRET,
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {token}"}


def _pdf(pages: int) -> bytes:
    doc = pymupdf.open()
    for n in range(1, pages + 1):
        page = doc.new_page()
        body = f"Chapter {n}. " + " ".join(
            f"Rule {n}.{i}: employees record overtime hours in the portal." for i in range(25)
        )
        page.insert_textbox(pymupdf.Rect(40, 40, 560, 800), body, fontsize=9)
    data: bytes = doc.tobytes()
    doc.close()
    return data


async def _get(api: httpx.AsyncClient, doc_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get(f"/v1/documents/{doc_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_upload_to_completed_for_every_kind_of_file(
    api: httpx.AsyncClient, aws: AwsResources, tenant: str
) -> None:
    headers = _token(tenant)
    corrupt = _pdf(2)[:900]
    handbook = _pdf(6)
    files = [
        ("file", ("handbook 2026 — 員工手冊.pdf", handbook, "application/pdf")),
        ("file", ("notes.txt", "Remote work needs manager approval.\n" * 80, "text/plain")),
        ("file", ("broken.pdf", corrupt, "application/pdf")),
    ]
    started = time.perf_counter()
    response = await api.post("/v1/documents", files=files, headers=headers)
    assert response.status_code == 202, response.text
    assert time.perf_counter() - started < 5  # answered without waiting for processing
    docs = response.json()["documents"]
    assert [d["status"] for d in docs] == ["queued"] * 3
    assert [d["duplicate"] for d in docs] == [False] * 3
    assert docs[0]["filename"] == "handbook 2026 — 員工手冊.pdf"

    await pump_queue(aws)

    pdf, text, broken = [await _get(api, d["id"], headers) for d in docs]
    assert pdf["status"] == "completed", pdf["error"]
    assert pdf["page_count"] == 6 and pdf["chunk_count"] >= 6 and pdf["processed_at"]
    assert text["status"] == "completed" and text["chunk_count"] >= 1
    assert broken["status"] == "failed" and broken["error"]

    # The same bytes again: the existing document, no new object, no processing.
    again = await api.post(
        "/v1/documents",
        headers=headers,
        files=[("file", ("copy.pdf", handbook, "application/pdf"))],
    )
    assert again.status_code == 202
    duplicate = again.json()["documents"][0]
    assert duplicate["duplicate"] is True and duplicate["id"] == pdf["id"]
    assert duplicate["status"] == "completed"
    assert await pump_queue(aws) == 0


async def test_same_bytes_for_another_tenant_are_not_a_duplicate(
    api: httpx.AsyncClient, aws: AwsResources
) -> None:
    data = f"Shared policy text {uuid.uuid4()}.\n".encode() * 20
    first = await api.post(
        "/v1/documents",
        headers=_token(f"t-{uuid.uuid4().hex}"),
        files=[("file", ("a.txt", data, "text/plain"))],
    )
    second = await api.post(
        "/v1/documents",
        headers=_token(f"t-{uuid.uuid4().hex}"),
        files=[("file", ("a.txt", data, "text/plain"))],
    )
    assert first.json()["documents"][0]["duplicate"] is False
    assert second.json()["documents"][0]["duplicate"] is False
    assert first.json()["documents"][0]["id"] != second.json()["documents"][0]["id"]
    await pump_queue(aws)
