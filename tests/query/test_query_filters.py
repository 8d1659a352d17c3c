"""Metadata filters on search and answer (docs/api.md), and Chinese in both scripts.

Documents are seeded with metadata straight into Postgres; the filters go through the
query API with JWT auth. Every assertion names exactly which documents must come back.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from docpipe.common.embeddings import Embedder, create_embedder
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.query.exceptions import FilterError
from docpipe.query.scope import DocumentScope
from docpipe.testkit.chunks import seed_document
from docpipe.testkit.tokens import ISSUER
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app as create_upload_app
from tests.query.test_query_search import make_client, make_settings

DOCS: dict[str, dict[str, Any]] = {
    "hr-2024": {"department": "HR", "year": 2024, "effective": "2024-01-01", "tags": ["leave"]},
    "hr-2025": {"department": "HR", "year": 2025, "effective": "2025-07-01T09:00:00+08:00",
                "tags": ["leave", "policy"]},
    "hr-2026": {"department": "HR", "year": 2026, "effective": "2026-03-31", "final": True},
    "fin-2025": {"department": "Finance", "year": 2025, "effective": "2025-12-31",
                 "tags": ["expenses"]},
    "odd": {"department": "hr", "year": "2025", "effective": "next year"},
}  # fmt: skip
TEXT = "Leave policy: annual leave is requested in the HR system two weeks in advance."


@pytest.fixture
def embedder(migrated: EmbeddedPostgres) -> Embedder:
    return create_embedder(make_settings())


@pytest.fixture
async def library(
    admin_conn: asyncpg.Connection, tenant: str, embedder: Embedder
) -> dict[str, uuid.UUID]:
    """One document per DOCS entry, each with three chunks of the same text."""
    ids = {}
    for name, metadata in DOCS.items():
        doc = await seed_document(
            admin_conn, tenant=tenant, texts=[TEXT] * 3, embedder=embedder, filename=f"{name}.txt"
        )
        await admin_conn.execute(
            "update documents set metadata = $2::jsonb where id = $1", doc.id, json.dumps(metadata)
        )
        ids[name] = doc.id
    return ids


@pytest.fixture
async def client(migrated: EmbeddedPostgres, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(make_settings(), tenant) as c:
        yield c


async def _found(
    client: httpx.AsyncClient, filters: dict[str, Any], *, mode: str = "hybrid", top_k: int = 50
) -> set[str]:
    response = await client.post(
        "/v1/search", json={"query": "annual leave", "mode": mode, "top_k": top_k,
                            "filters": filters},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return {r["filename"].removesuffix(".txt") for r in response.json()["results"]}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, set(DOCS)),
        ({"department": "HR"}, {"hr-2024", "hr-2025", "hr-2026"}),
        ({"department": "hr"}, {"odd"}),
        ({"year": 2025}, {"hr-2025", "fin-2025"}),
        ({"year": "2025"}, {"odd"}),
        ({"final": True}, {"hr-2026"}),
        ({"tags": "leave"}, {"hr-2024", "hr-2025"}),
        ({"tags": "policy", "department": "HR"}, {"hr-2025"}),
        ({"department": {"in": ["Finance", "hr"]}}, {"fin-2025", "odd"}),
        ({"tags": {"in": ["expenses", "policy"]}}, {"hr-2025", "fin-2025"}),
        ({"year": {"gte": 2025}}, {"hr-2025", "hr-2026", "fin-2025"}),
        ({"year": {"gte": 2024.5, "lte": 2025}}, {"hr-2025", "fin-2025"}),
        ({"year": {"lte": 2024}}, {"hr-2024"}),
        ({"effective": {"gte": "2025-07-01"}}, {"hr-2025", "hr-2026", "fin-2025"}),
        ({"effective": {"lte": "2025-12-31"}}, {"hr-2024", "hr-2025", "fin-2025"}),
        ({"effective": {"gte": "2025-07-01T02:00:00Z"}}, {"hr-2026", "fin-2025"}),
        ({"effective": {"gte": "2025-01-01", "lte": "2025-12-31"}, "department": "HR"},
         {"hr-2025"}),
        ({"department": "Legal"}, set()),
        ({"missing": {"gte": 0}}, set()),
    ],
)  # fmt: skip
async def test_filters_select_exactly_the_matching_documents(
    client: httpx.AsyncClient,
    library: dict[str, uuid.UUID],
    filters: dict[str, Any],
    expected: set[str],
) -> None:
    for mode in ("hybrid", "keyword", "vector"):
        assert await _found(client, filters, mode=mode) == expected, mode


async def test_a_filter_never_returns_fewer_than_top_k_while_more_match(
    client: httpx.AsyncClient, library: dict[str, uuid.UUID]
) -> None:
    """Nine HR chunks match among fifteen: every leg returns all nine, top_k = 9."""
    for mode in ("hybrid", "keyword", "vector"):
        response = await client.post(
            "/v1/search",
            json={"query": "annual leave", "mode": mode, "top_k": 9,
                  "filters": {"department": "HR"}},
        )  # fmt: skip
        results = response.json()["results"]
        assert len(results) == 9, mode
        assert {r["document_id"] for r in results} == {
            str(library[n]) for n in ("hr-2024", "hr-2025", "hr-2026")
        }


async def test_filters_and_document_ids_are_anded(
    client: httpx.AsyncClient, library: dict[str, uuid.UUID]
) -> None:
    response = await client.post(
        "/v1/search",
        json={"query": "leave", "document_ids": [str(library["hr-2024"]), str(library["fin-2025"])],
              "filters": {"year": 2025}},
    )  # fmt: skip
    assert {r["document_id"] for r in response.json()["results"]} == {str(library["fin-2025"])}


async def test_answer_respects_filters(
    client: httpx.AsyncClient, library: dict[str, uuid.UUID]
) -> None:
    response = await client.post(
        "/v1/answer", json={"query": "annual leave", "filters": {"department": "Finance"}}
    )
    assert {c["document_id"] for c in response.json()["citations"]} == {str(library["fin-2025"])}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"bad key": 1}, "bad key"),
        ({"year": {"gte": "soon"}}, "year"),
        ({"year": {"gte": 1, "lte": "2025-01-01"}}, "year"),
        ({"year": {"between": [1, 2]}}, "year"),
        ({"tags": ["a", "b"]}, "tags"),
        ({"tags": {"in": []}}, "tags"),
        ({"tags": {"in": "a"}}, "tags"),
        ({"x": None}, "x"),
        ({"x": {"nested": {"deep": 1}}}, "x"),
        ({"effective": {"gte": "2025-02-30"}}, "effective"),
    ],
)
async def test_an_invalid_filter_is_a_422_naming_the_field(
    client: httpx.AsyncClient, filters: dict[str, Any], field: str
) -> None:
    for path in ("/v1/search", "/v1/answer"):
        response = await client.post(path, json={"query": "leave", "filters": filters})
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith(f"filters.{field}:")


def test_filter_values_are_parameters_never_sql() -> None:
    scope = DocumentScope.of(filters={"k": "x'); drop table chunks; --", "n": {"gte": 1}})
    sql, args = scope.sql("c.document_id", first_param=4)
    assert "drop table" not in sql and any("drop table" in str(a) for a in args)
    assert "$4" in sql and f"${3 + len(args)}" in sql
    with pytest.raises(FilterError):
        DocumentScope.of(filters={f"k{i}": 1 for i in range(17)})


async def test_patched_metadata_is_searchable_at_once(
    library: dict[str, uuid.UUID], tenant: str, client: httpx.AsyncClient, aws: AwsResources
) -> None:
    """PATCH through the upload service; the next search filters on the new value."""
    from tests.upload.test_upload_api import SECRET as UPLOAD_SECRET

    settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt", jwt_secret=UPLOAD_SECRET, ingest_queue_url=aws.queue_url
    )
    claims = {"tenant_id": tenant, "sub": "u", "iss": ISSUER, "exp": int(time.time()) + 600}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_upload_app(settings)),
        base_url="http://upload.test",
        headers={"Authorization": f"Bearer {jwt.encode(claims, UPLOAD_SECRET, 'HS256')}"},
    ) as upload:
        assert await _found(client, {"department": "Legal"}) == set()
        response = await upload.patch(
            f"/v1/documents/{library['odd']}", json={"metadata": {"department": "Legal"}}
        )
        assert response.status_code == 200, response.text
    assert await _found(client, {"department": "Legal"}) == {"odd"}


# --- Chinese in both scripts -----------------------------------------------------------------


async def test_simplified_query_finds_traditional_document_with_the_keyword_leg(
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
    client: httpx.AsyncClient,
) -> None:
    traditional = await seed_document(
        admin_conn,
        tenant=tenant,
        texts=[
            "員工請假須事先於系統申請，病假超過三日應檢附醫師證明。",
            "停車場開放時間為早上七點。",
        ],
        embedder=embedder,
        filename="員工手冊.txt",
    )
    simplified = await seed_document(
        admin_conn,
        tenant=tenant,
        texts=["员工请假须事先于系统申请。"],
        embedder=embedder,
        filename="简体.txt",
    )
    for query, expected in (
        ("请假", {traditional.chunk_ids[0], simplified.chunk_ids[0]}),
        ("請假", {traditional.chunk_ids[0], simplified.chunk_ids[0]}),
        ("医师证明", {traditional.chunk_ids[0]}),
        ("ＶＰＮ停车场", {traditional.chunk_ids[1]}),  # full-width Latin, Simplified 车/场
    ):
        response = await client.post("/v1/search", json={"query": query, "mode": "keyword"})
        assert {uuid.UUID(r["chunk_id"]) for r in response.json()["results"]} == expected, query
