"""POST /v1/search over HTTP (in-process ASGI) against real Postgres + pgvector.

Chunks are seeded directly (docpipe.testkit.chunks) with the local feature-hashing
embedder, except where a test says otherwise; one fresh tenant per test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import jwt
import numpy as np
import pytest

from docpipe.common.db import get_pool
from docpipe.common.embeddings import Embedder, create_embedder
from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.query import search as search_module
from docpipe.query.config import QuerySettings
from docpipe.query.hits import Hit
from docpipe.query.main import create_app
from docpipe.query.query_embeddings import QueryEmbeddings
from docpipe.query.search import Retriever
from docpipe.query.vector import VectorPlanner
from docpipe.testkit.chunks import seed_document
from docpipe.testkit.tokens import ISSUER, http_api_claims

SECRET = "query-test-secret-0123456789abcdef"
PROBLEM_JSON = "application/problem+json"


def token(tenant: str) -> str:
    claims = {"tenant_id": tenant, "sub": "user-1", "iss": ISSUER, "exp": int(time.time()) + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def make_settings(**overrides: Any) -> QuerySettings:
    values: dict[str, Any] = {
        "auth_mode": "jwt",
        "jwt_secret": SECRET,
        "cors_origins": "https://app.example.com",
    }
    return QuerySettings(**(values | overrides))


def make_client(settings: QuerySettings, tenant: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token(tenant)}"} if tenant else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)),
        base_url="http://query.test",
        headers=headers,
    )


@pytest.fixture
def settings(migrated: EmbeddedPostgres) -> QuerySettings:
    return make_settings()


@pytest.fixture
async def client(settings: QuerySettings, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings, tenant) as c:
        yield c


@pytest.fixture
def embedder(settings: QuerySettings) -> Embedder:
    return create_embedder(settings)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


HANDBOOK = [
    "Employees accrue fifteen days of paid vacation per year, prorated in the first year.",
    "The office is closed on public holidays; see the holiday calendar for the dates.",
    "Expense reports must be submitted within thirty days with receipts attached.",
    "Remote work requires approval from your manager and a secure home network.",
]
CHINESE = [
    "員工每年享有十五天特別休假，到職未滿一年者依比例計算。",
    "加班費依勞動基準法計算，平日延長工時前二小時按平日每小時工資加給三分之一。",
    "請假須事先於系統申請，病假超過三日應檢附醫師證明。",
]


# --- health, auth, CORS ----------------------------------------------------------------


async def test_healthz_needs_no_auth(settings: QuerySettings) -> None:
    async with make_client(settings, None) as anonymous:
        response = await anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_search_without_a_valid_token_is_401(settings: QuerySettings) -> None:
    async with make_client(settings, None) as anonymous:
        missing = await anonymous.post("/v1/search", json={"query": "vacation"})
        forged = await anonymous.post(
            "/v1/search",
            json={"query": "vacation"},
            headers={
                "Authorization": "Bearer "
                + jwt.encode(
                    {"tenant_id": "x", "iss": ISSUER, "exp": int(time.time()) + 60},
                    "wrong-secret-0123456789abcdef",
                    algorithm="HS256",
                )
            },
        )
    assert_problem(missing, 401)
    assert_problem(forged, 401)


async def test_cors_preflight_allows_the_configured_origin_only(
    client: httpx.AsyncClient,
) -> None:
    headers = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = await client.options("/v1/search", headers=headers)
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    denied = await client.options("/v1/search", headers=headers | {"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in denied.headers


# --- the three modes ---------------------------------------------------------------------


async def test_keyword_mode_finds_english_by_stemmed_terms(
    client: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
) -> None:
    doc = await seed_document(
        admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder, filename="handbook.txt"
    )
    response = await client.post(
        "/v1/search", json={"query": "submitting expenses", "mode": "keyword"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["took_ms"], float)
    [first, *_] = body["results"]
    assert first["chunk_id"] == str(doc.chunk_ids[2])
    assert first["document_id"] == str(doc.id) and first["filename"] == "handbook.txt"
    assert (first["page_start"], first["page_end"]) == (3, 3)
    assert first["text"] == HANDBOOK[2] and first["score"] > 0


async def test_keyword_mode_finds_chinese_by_chinese_query(
    client: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
) -> None:
    doc = await seed_document(
        admin_conn,
        tenant=tenant,
        texts=CHINESE + HANDBOOK,
        embedder=embedder,
        filename="員工手冊.txt",
    )
    response = await client.post(
        "/v1/search", json={"query": "病假要醫師證明嗎", "mode": "keyword"}
    )
    results = response.json()["results"]
    assert results[0]["chunk_id"] == str(doc.chunk_ids[2]), results
    assert results[0]["filename"] == "員工手冊.txt"
    # Every result contains one of the query's bigrams; English chunks do not match.
    assert {r["chunk_id"] for r in results} <= {str(c) for c in doc.chunk_ids[:3]}
    overtime = await client.post("/v1/search", json={"query": "加班費", "mode": "keyword"})
    assert [r["chunk_id"] for r in overtime.json()["results"]] == [str(doc.chunk_ids[1])]


async def test_keyword_mode_with_only_stop_words_returns_nothing(
    client: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
) -> None:
    await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder)
    response = await client.post("/v1/search", json={"query": "the of and", "mode": "keyword"})
    assert response.status_code == 200 and response.json()["results"] == []


async def test_vector_mode_ranks_by_cosine_similarity(
    client: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
) -> None:
    doc = await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder)
    response = await client.post(
        "/v1/search", json={"query": "paid vacation days per year", "mode": "vector", "top_k": 4}
    )
    results = response.json()["results"]
    assert len(results) == 4 and results[0]["chunk_id"] == str(doc.chunk_ids[0])
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0


async def test_hybrid_is_the_default_and_fuses_both_legs(
    client: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
) -> None:
    doc = await seed_document(
        admin_conn, tenant=tenant, texts=HANDBOOK + CHINESE, embedder=embedder
    )
    response = await client.post("/v1/search", json={"query": "remote work approval", "top_k": 3})
    results = response.json()["results"]
    assert len(results) == 3 and results[0]["chunk_id"] == str(doc.chunk_ids[3])
    # Weighted fusion (the default): first in both legs = 0.6 · 1 + 0.4 · 1.
    assert results[0]["score"] == pytest.approx(1.0)
    assert all(0.0 <= r["score"] <= 1.0 for r in results)
    rrf = make_settings(fusion="rrf")
    async with make_client(rrf, tenant) as c:
        fused = (await c.post("/v1/search", json={"query": "remote work approval"})).json()
    # RRF: at most 2 / (k + 1) for a chunk ranked first by both legs.
    assert fused["results"][0]["chunk_id"] == str(doc.chunk_ids[3])
    assert fused["results"][0]["score"] == pytest.approx(2 / 61, rel=1e-3)


class _SlowEmbeddings(QueryEmbeddings):
    """The real embedder behind a delay (a Bedrock call), noting what happened meanwhile."""

    def __init__(self, embedder: Embedder, retriever_log: list[str], fail: bool) -> None:
        super().__init__(embedder)
        self.log, self.fail = retriever_log, fail

    async def embed(self, text: str, *, tenant_id: str, subject: str | None = None) -> list[float]:
        self.log.append("embedding started")
        await asyncio.sleep(0.3)
        self.log.append("embedding done")
        if self.fail:
            raise RuntimeError("Bedrock is down")
        return await super().embed(text, tenant_id=tenant_id, subject=subject)


class _LoggingRetriever(Retriever):
    log: list[str]

    async def _keyword_leg(self, *args: Any) -> list[Hit]:
        hits = await super()._keyword_leg(*args)
        self.log.append("keyword leg done")
        return hits


@pytest.mark.parametrize("fail", [False, True])
async def test_hybrid_runs_the_keyword_leg_while_the_query_is_embedded(
    settings: QuerySettings,
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
    fail: bool,
) -> None:
    doc = await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder)
    pool = await get_pool(settings)
    log: list[str] = []
    retriever = _LoggingRetriever(
        pool=pool,
        embeddings=_SlowEmbeddings(embedder, log, fail),
        planner=VectorPlanner(ef_search=40),
    )
    retriever.log = log
    search = retriever.search(reader=tenant, query="remote work approval", mode="hybrid", top_k=3)
    if fail:
        with pytest.raises(RuntimeError, match="Bedrock is down"):
            await search
    else:
        outcome = await search
        assert outcome.hits[0].chunk_id == doc.chunk_ids[3]
    # Overlap: the keyword leg finished while the (slow) query embedding was under way.
    assert log[:3] == ["embedding started", "keyword leg done", "embedding done"]
    await asyncio.sleep(0.05)
    assert pool.get_idle_size() == pool.get_size(), "a leg kept its connection"


async def test_keyword_and_hybrid_searches_score_within_the_configured_budget(
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
    migrated: EmbeddedPostgres,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KEYWORD_CANDIDATE_BUDGET reaches the keyword leg of both modes that have one.

    What a budget does to the ranking is tested in test_keyword_stats; here, that the
    setting is the one the real leg is given.
    """
    doc = await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder)
    budgets: list[int] = []
    keyword_search = search_module.keyword_search

    async def recording(conn: asyncpg.Connection, **kwargs: Any) -> list[Hit]:
        budgets.append(kwargs["bm25"].candidate_budget)
        return await keyword_search(conn, **kwargs)

    monkeypatch.setattr(search_module, "keyword_search", recording)
    settings = make_settings(keyword_candidate_budget=700)
    async with make_client(settings, tenant) as c:
        for mode in ("keyword", "hybrid", "vector"):
            response = await c.post("/v1/search", json={"query": "expense reports", "mode": mode})
            assert response.json()["results"][0]["chunk_id"] == str(doc.chunk_ids[2]), mode
    assert budgets == [700, 700]


async def test_document_ids_restrict_every_mode(
    client: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    tenant: str,
    embedder: Embedder,
) -> None:
    first = await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder)
    second = await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder)
    for mode in ("hybrid", "vector", "keyword"):
        response = await client.post(
            "/v1/search",
            json={
                "query": "vacation holidays expenses remote",
                "mode": mode,
                "top_k": 10,
                "document_ids": [str(second.id), str(second.id)],
            },
        )
        results = response.json()["results"]
        assert results and {r["document_id"] for r in results} == {str(second.id)}, mode
        assert str(first.id) not in {r["document_id"] for r in results}
    unknown = await client.post(
        "/v1/search", json={"query": "vacation", "document_ids": [str(uuid.uuid4())]}
    )
    assert unknown.status_code == 200 and unknown.json()["results"] == []


async def test_an_empty_tenant_gets_no_results(client: httpx.AsyncClient) -> None:
    for mode in ("hybrid", "vector", "keyword"):
        response = await client.post("/v1/search", json={"query": "vacation", "mode": mode})
        assert response.status_code == 200 and response.json()["results"] == []


async def test_repeated_queries_are_embedded_once(
    settings: QuerySettings,
    tenant: str,
    admin_conn: asyncpg.Connection,
    embedder: Embedder,
) -> None:
    await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder)
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://q",
        headers={"Authorization": f"Bearer {token(tenant)}"},
    ) as c:
        for mode in ("vector", "hybrid", "vector"):
            response = await c.post("/v1/search", json={"query": "paid vacation", "mode": mode})
            assert response.status_code == 200
        await c.post("/v1/search", json={"query": "something else", "mode": "vector"})
    assert app.state.query_embeddings.embedder.stats.texts == 2
    assert app.state.query_embeddings.hits == 2


async def test_another_tenants_search_never_hits_my_cached_embedding(
    settings: QuerySettings, tenant: str
) -> None:
    """Through the API: tenant B searching what tenant A just searched is embedded anew
    (a cache hit would be faster, so B could learn what A searches); A's repeat hits."""
    other = f"{tenant}-other"
    app = create_app(settings)
    cache = app.state.query_embeddings

    async def search(who: str) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://q",
            headers={"Authorization": f"Bearer {token(who)}"},
        ) as c:
            response = await c.post("/v1/search", json={"query": "layoffs", "mode": "vector"})
            assert response.status_code == 200, response.text

    await search(tenant)
    await search(other)
    assert (cache.embedder.stats.texts, cache.hits) == (2, 0)
    await search(tenant)  # the control: the cache works for its owner
    assert (cache.embedder.stats.texts, cache.hits) == (2, 1)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, ""),  # FastAPI reports an empty object as a missing body
        ({"query": "a", "mode": "vector"} | {"query": None}, "query"),
        ({"query": ""}, "query"),
        ({"query": "   \n\t"}, "query"),
        ({"query": "x" * 2001}, "query"),
        ({"query": "a", "top_k": 0}, "top_k"),
        ({"query": "a", "top_k": 51}, "top_k"),
        ({"query": "a", "top_k": "many"}, "top_k"),
        ({"query": "a", "mode": "fuzzy"}, "mode"),
        ({"query": "a", "document_ids": ["not-a-uuid"]}, "document_ids"),
        ({"query": "a", "document_ids": "0b7c1f3e-4f0e-4a6f-9d55-8f6f0f6c1a11"}, "document_ids"),
        ({"query": "a", "document_ids": [str(uuid.uuid4()) for _ in range(101)]}, "document_ids"),
        ({"query": "a", "unexpected": 1}, "unexpected"),
    ],
)
async def test_invalid_requests_are_422_problems_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], where: str
) -> None:
    for path in ("/v1/search", "/v1/answer"):
        problem = assert_problem(await client.post(path, json=body), 422)
        assert problem["detail"].startswith(where), problem
        assert problem["errors"], problem


async def test_malformed_json_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/search", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


# --- filtered vector search over thousands of chunks -------------------------------------


def _random_unit_vectors(count: int, dimensions: int, seed: int) -> np.ndarray:
    """Unit vectors with a low intrinsic dimension, like real embeddings (uniformly random
    384-d vectors are HNSW's worst case and would make seeding take a minute)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).standard_normal((24, dimensions))
    vectors = rng.standard_normal((count, 24)) @ basis + 0.3 * rng.standard_normal(
        (count, dimensions)
    )
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
async def crowd(migrated: EmbeddedPostgres) -> dict[str, Any]:
    """2,000 chunks: one tenant with 20 documents × 100 chunks, random unit vectors."""
    conn = await asyncpg.connect(migrated.admin_dsn)
    from pgvector.asyncpg import register_vector

    await register_vector(conn)
    tenant = f"crowd-{uuid.uuid4().hex[:8]}"
    vectors = _random_unit_vectors(2000, 384, seed=7)
    docs = []
    for i in range(20):
        rows = vectors[i * 100 : (i + 1) * 100]
        docs.append(
            await seed_document(
                conn,
                tenant=tenant,
                vectors=list(rows),
                texts=[f"chunk {i}-{j}" for j in range(100)],
            )
        )
    await conn.close()
    return {"tenant": tenant, "docs": docs, "vectors": vectors}


def _exact_top(
    crowd: dict[str, Any], query: np.ndarray, doc_indexes: list[int], k: int
) -> list[str]:
    ids = [c for i in doc_indexes for c in crowd["docs"][i].chunk_ids]
    vectors = np.concatenate([crowd["vectors"][i * 100 : (i + 1) * 100] for i in doc_indexes])
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [str(ids[i]) for i in order]


@pytest.mark.parametrize("exact_max_rows", [20_000, 0], ids=["exact-plan", "index-plan"])
async def test_selective_document_filter_still_returns_top_k(
    crowd: dict[str, Any], exact_max_rows: int
) -> None:
    """One document out of 20: an HNSW scan (ef_search 40) filtered afterwards finds a
    few of its chunks; the service must return top_k, and the true nearest ones."""
    settings = make_settings(exact_search_max_rows=exact_max_rows)
    query = _random_unit_vectors(1, 384, seed=99)[0]
    async with make_client(settings, crowd["tenant"]) as c:
        app = c._transport.app  # type: ignore[attr-defined]
        # the caller's own cache entry (tenant, user, text): see query_embeddings
        app.state.query_embeddings._remember((crowd["tenant"], "user-1", "probe"), query.tolist())
        for doc_indexes in ([5], [3, 17]):
            response = await c.post(
                "/v1/search",
                json={
                    "query": "probe",
                    "mode": "vector",
                    "top_k": 50,
                    "document_ids": [str(crowd["docs"][i].id) for i in doc_indexes],
                },
            )
            results = response.json()["results"]
            assert len(results) == 50
            expected = _exact_top(crowd, query, doc_indexes, 50)
            assert [r["chunk_id"] for r in results] == expected


async def test_a_plain_filtered_index_scan_would_come_back_short(
    crowd: dict[str, Any], admin_conn: asyncpg.Connection
) -> None:
    """The problem the planner solves, measured: pgvector 0.6 filters after the scan."""
    query = _random_unit_vectors(1, 384, seed=99)[0]
    async with admin_conn.transaction():
        await admin_conn.execute("set local hnsw.ef_search = 40")
        await admin_conn.execute("set local enable_seqscan = off")
        plan_rows = (
            "select id from chunks where document_id::text = $1"  # no btree: HNSW
            " order by embedding <=> $2 limit 50"
        )
        plan = await admin_conn.fetch("explain " + plan_rows, str(crowd["docs"][5].id), query)
        assert "chunks_embedding_hnsw" in "\n".join(r[0] for r in plan)
        rows = await admin_conn.fetch(plan_rows, str(crowd["docs"][5].id), query)
    assert len(rows) < 50


async def test_tenant_filter_alone_still_returns_top_k(
    crowd: dict[str, Any],
    admin_conn: asyncpg.Connection,
    tenant: str,
    settings: QuerySettings,
) -> None:
    """A small tenant next to a big one: the index's first candidates are mostly the big
    tenant's, which row-level security removes; the small tenant still gets top_k."""
    vectors = _random_unit_vectors(60, 384, seed=5)
    small = await seed_document(
        admin_conn, tenant=tenant, vectors=list(vectors), texts=[f"small {i}" for i in range(60)]
    )
    query = _random_unit_vectors(1, 384, seed=6)[0]
    async with make_client(settings, tenant) as c:
        c._transport.app.state.query_embeddings._remember(  # type: ignore[attr-defined]
            (tenant, "user-1", "probe"), query.tolist()
        )
        response = await c.post(
            "/v1/search", json={"query": "probe", "mode": "vector", "top_k": 50}
        )
    results = response.json()["results"]
    expected = [str(small.chunk_ids[i]) for i in np.argsort(-(vectors @ query))[:50]]
    assert [r["chunk_id"] for r in results] == expected


# --- Lambda entry point ----------------------------------------------------------------------


def test_lambda_handler_serves_api_gateway_events(migrated: EmbeddedPostgres, tenant: str) -> None:
    """The Mangum handler in a fresh process (AUTH_MODE=apigateway: claims in the event);
    importing the module builds nothing and imports no AWS or model library."""
    script = """
import json, sys
import docpipe.query.main as main
assert "app" not in vars(main)
heavy = [m for m in ("aioboto3", "sentence_transformers", "torch") if m in sys.modules]
assert not heavy, heavy
from docpipe.testkit.events import http_api_event as event
query = {"query": "vacation", "mode": "hybrid"}
claims = json.loads(sys.argv[1])
out = [main.handler(event(*args, claims=c, body=body), None) for *args, c, body in [
    ("GET", "/healthz", None, None), ("POST", "/v1/search", None, query),
    ("POST", "/v1/search", claims, query), ("POST", "/v1/search", claims, query)]]
assert not any(r["isBase64Encoded"] for r in out)
print(json.dumps([[r["statusCode"], r["body"]] for r in out]))
"""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "AUTH_MODE": "apigateway", "DATABASE_URL": migrated.services_dsn}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(http_api_claims(tenant))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    responses = json.loads(result.stdout.strip().splitlines()[-1])
    health, anonymous, first, second = [[status, json.loads(body)] for status, body in responses]
    assert health == [200, {"status": "ok"}]
    assert anonymous[0] == 401
    assert first[0] == second[0] == 200 and first[1]["results"] == []


# --- semantic search with a real model -------------------------------------------------------


@pytest.mark.sbert
async def test_vector_mode_finds_a_paraphrase_with_minilm(
    migrated: EmbeddedPostgres, admin_conn: asyncpg.Connection, tenant: str
) -> None:
    """No shared words between query and answer: only a semantic model can find it."""
    settings = make_settings(
        embedding_provider="sentence-transformers",
        embedding_model_id="sentence-transformers/all-MiniLM-L6-v2",
    )
    model = create_embedder(settings)
    doc = await seed_document(admin_conn, tenant=tenant, texts=HANDBOOK, embedder=model)
    async with make_client(settings, tenant) as c:
        query = "How much annual leave do staff receive?"
        vector = (await c.post("/v1/search", json={"query": query, "mode": "vector"})).json()
        keyword = (await c.post("/v1/search", json={"query": query, "mode": "keyword"})).json()
    assert vector["results"][0]["chunk_id"] == str(doc.chunk_ids[0])
    assert keyword["results"] == []  # no shared term: the keyword leg cannot find it
