"""Query latency at scale: ``POST /v1/search`` per mode at 10k and 100k chunks.

- Data: synthetic but realistic chunks (recombined MS MARCO sentences, 600-1,200
  characters, 50 per document, one tenant), embedded with ``--embedder`` (384-d): ``local``
  (feature hashing, the default: seconds for 100k chunks, but near-random vectors) or
  ``minilm`` (all-MiniLM-L6-v2, real semantic vectors: about an hour for 100k chunks on
  2 cores, cached in .local/bench-cache by bench._vectors), bulk-loaded with COPY into a
  private pgserver database; the HNSW and GIN indexes are (re)built after each load, as
  for any bulk load. The service embeds queries with the same embedder.
- Service: the query app under uvicorn in its own process (one worker), called by a lean
  keep-alive HTTP client (bench._http: the load generator shares the cores, so its own
  CPU must stay small) keeping ``--concurrency`` requests in flight; ``--requests`` per mode
  after a warm-up pass that also fills the service's query-embedding cache, so the
  query-embedding call is excluded (its cost with the local embedder is measured apart).
- SQL: the same legs run directly (the service's own data functions, which issue the SQL,
  each in a tenant transaction on an asyncpg pool; hybrid's two at once, as the service
  runs them) at the same concurrency: the ratio of
  the two is the service's overhead (HTTP, validation, auth, pool, JSON).
- Recall@10 of the HNSW index against exact search, at the service's ``ef_search`` and a
  sweep wide enough to find the smallest one reaching the 0.95 target, for two query sets
  (search queries, held-out chunk-like passages), with the SQL p50 at each ``ef_search``.
- Keyword leg quality under its candidate budget: BM25 top-k (10, and hybrid's per-leg
  count) within budgets of 100-1,000 candidates against exact BM25 (every match scored),
  as overlap and as the share of the exact top-k's BM25 score kept, with SQL p50.
- ``--recall-only`` loads and measures recall without the latency part, and writes
  bench/results/vector_recall_<embedder>.json instead of query_latency.json (a full run
  with another embedder than ``local`` writes query_latency_<embedder>.json; another
  ``--concurrency`` than 4 adds ``_c<n>``).

    uv run python -m bench.query_latency [--quick] [--embedder minilm] [--recall-only]
        [--sizes 10000,100000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench._conditions import (
    conditions,
    percentiles,
    print_conditions,
    print_table,
    write_results,
)
from bench._corpus import chunk_texts, queries
from bench._stack import (
    Stack,
    create_database,
    embedded_stack,
    use_compiled_bytecode,
    warm_bytecode,
)
from bench._vectors import EMBEDDERS, EmbeddingSource, service_env

__all__ = ["main"]

DIMENSIONS = 384
TENANT = "default"  # AUTH_MODE=none: every request belongs to the tenant "default"
CHUNKS_PER_DOCUMENT = 50
MODES = ("vector", "keyword", "hybrid")
TARGETS = {"hybrid_p95_ms_100k": 50.0, "p50_growth": 2.0, "overhead": 1.5, "recall": 0.95}
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONCURRENCY = 4  # requests in flight: twice the cores, so requests queue
WARMUP_BUDGET_S = 15.0
REQUEST_TIMEOUT_S = 60.0
# hnsw.ef_search values for recall (10 = top_k, the least the service uses; 1000 = pgvector's max)
EF_SWEEP = (10, 20, 40, 64, 100, 150, 200, 400, 800, 1000)
# BM25 candidate budgets compared with exact BM25 (plus the service's default)
KEYWORD_BUDGETS = (100, 250, 500, 1000)
UNBOUNDED_BUDGET = 10**9  # more than any tenant's matches: every matching chunk is scored


# -------------------------------------------------------------------------------- loading


async def _drop_indexes(conn: Any) -> None:
    await conn.execute("drop index if exists chunks_embedding_hnsw")
    await conn.execute("drop index if exists chunks_keywords_gin")


async def _build_indexes(conn: Any) -> dict[str, float]:
    """The migration's index definitions, built after the load (pgvector defaults m=16, ef=64)."""
    await conn.execute("set maintenance_work_mem = '1GB'")
    await conn.execute("set max_parallel_maintenance_workers = 1")
    t = time.perf_counter()
    await conn.execute(
        "create index chunks_embedding_hnsw on chunks using hnsw (embedding vector_cosine_ops)"
    )
    hnsw = time.perf_counter() - t
    t = time.perf_counter()
    await conn.execute("create index chunks_keywords_gin on chunks using gin (keywords)")
    gin = time.perf_counter() - t
    await conn.execute("vacuum analyze chunks")
    await conn.execute("analyze documents")
    return {"hnsw_build_s": hnsw, "gin_build_s": gin}


async def load_chunks(
    admin: Any, *, start: int, stop: int, source: EmbeddingSource, batch: int = 10_000
) -> dict[str, float]:
    """Chunks ``start``..``stop`` (and their documents), COPY + INSERT…SELECT per batch.

    ``embed_s`` is the wall time of the embedding step, cache reads included (see
    ``source.facts()`` for the computed throughput).
    """
    from docpipe.common.keywords import keyword_text, tsvector_sql

    embed_s = copy_s = 0.0
    for lo in range(start, stop, batch):
        hi = min(stop, lo + batch)
        texts = list(chunk_texts(hi - lo, seed=lo))
        t = time.perf_counter()
        vectors = await source.embed(
            texts, input_type="search_document", label=f"chunks {lo:,}-{hi:,}"
        )
        embed_s += time.perf_counter() - t
        t = time.perf_counter()
        docs = {n // CHUNKS_PER_DOCUMENT for n in range(lo, hi)}
        await admin.copy_records_to_table(
            "documents",
            columns=[
                "id",
                "tenant_id",
                "filename",
                "content_type",
                "size_bytes",
                "sha256",
                "storage_key",
                "status",
                "page_count",
                "chunk_count",
                "processed_at",
            ],
            records=[
                (
                    uuid.UUID(int=d + 1),
                    TENANT,
                    f"doc-{d:06d}.pdf",
                    "application/pdf",
                    1,
                    f"{d:064x}",
                    f"uploads/ZGVmYXVsdA/{uuid.UUID(int=d + 1)}",
                    "completed",
                    CHUNKS_PER_DOCUMENT,
                    CHUNKS_PER_DOCUMENT,
                    None,
                )
                for d in sorted(docs)
                if d * CHUNKS_PER_DOCUMENT >= lo
            ],
        )
        async with admin.transaction():
            await admin.execute(
                "create temporary table stage (id uuid, document_id uuid, ordinal int,"
                " page int, text text, sha text, embedding vector, latin text, cjk text)"
                " on commit drop"
            )
            records = []
            for n, (text, vector) in enumerate(zip(texts, vectors, strict=True), start=lo):
                words = keyword_text(text)
                records.append(
                    (
                        uuid.UUID(int=(1 << 64) + n),
                        uuid.UUID(int=n // CHUNKS_PER_DOCUMENT + 1),
                        n % CHUNKS_PER_DOCUMENT,
                        n % CHUNKS_PER_DOCUMENT // 2 + 1,
                        text,
                        f"{n:064x}",
                        np.asarray(vector, dtype=np.float32),
                        words.latin,
                        words.cjk,
                    )
                )
            await admin.copy_records_to_table("stage", records=records)
            await admin.execute(
                "insert into chunks (id, tenant_id, document_id, ordinal, page_start, page_end,"
                " text, content_sha256, embedding, keywords) select id, $1, document_id, ordinal,"
                f" page, page, text, sha, embedding, {tsvector_sql('latin', 'cjk')} from stage",
                TENANT,
            )
        copy_s += time.perf_counter() - t
        print(f"  loaded {hi:,} chunks", flush=True)
    return {"embed_s": embed_s, "copy_insert_s": copy_s}


# ------------------------------------------------------------------------------- service


def _start_service(
    stack: Stack, dsn: str, port: int, *, embedder: str = "local"
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        **service_env(embedder, DIMENSIONS),  # queries embedded as the chunks were
        "AUTH_MODE": "none",
        "LOG_LEVEL": "WARNING",
    }
    log = (stack.root / "query-service.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "docpipe.query.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError((stack.root / "query-service.log").read_text()[-2000:])


async def _closed_loop(
    n: int, concurrency: int, one: Any, budget_s: float = float("inf")
) -> tuple[list[float], float]:
    """Up to ``n`` calls of ``one(i)``, ``concurrency`` in flight, started within ``budget_s``.

    Returns the latencies (s) and the wall time. A mode too slow to finish ``n`` calls in
    the budget reports fewer (the count is part of the results).
    """
    latencies: list[float] = []
    counter = iter(range(n))
    started = time.perf_counter()

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() - started > budget_s:
                return
            t = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - t)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def service_latency(
    port: int,
    qs: list[str],
    *,
    mode: str,
    n: int,
    concurrency: int,
    top_k: int,
    budget_s: float,
) -> dict[str, Any]:
    from bench._http import HttpError, JsonConnection

    took: list[float] = []
    errors: list[str] = []
    connections: asyncio.Queue[JsonConnection] = asyncio.Queue()
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(concurrency):
            connections.put_nowait(
                await stack.enter_async_context(JsonConnection("127.0.0.1", port))
            )

        async def one(i: int) -> None:
            body = {"query": qs[i % len(qs)], "mode": mode, "top_k": top_k}
            conn = await connections.get()
            try:
                status, answer = await conn.post("/v1/search", body, timeout=REQUEST_TIMEOUT_S)
            except TimeoutError:
                errors.append("client timeout")  # this connection is out of step: drop it
                conn = await stack.enter_async_context(JsonConnection("127.0.0.1", port))
                return
            except HttpError as exc:
                errors.append(str(exc))
                conn = await stack.enter_async_context(JsonConnection("127.0.0.1", port))
                return
            finally:
                connections.put_nowait(conn)
            if status != 200:
                errors.append(f"HTTP {status}")
                return
            took.append(answer["took_ms"])

        # Warm-up: fills the query-embedding cache (and the server's pool, plans, caches).
        await _closed_loop(len(qs), concurrency, one, budget_s=WARMUP_BUDGET_S)
        took.clear()
        errors.clear()
        latencies, wall = await _closed_loop(n, concurrency, one, budget_s=budget_s)
    ok = len(took)
    return _stats(
        latencies,
        wall,
        server_took_ms=statistics.median(took) if took else float("nan"),
        ok=ok,
        errors=dict(collections.Counter(errors)),
    )


def _stats(latencies: list[float], wall: float, **extra: Any) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies]
    return {
        "requests": len(ms),
        **{f"{k}_ms": v for k, v in percentiles(ms).items()},
        "mean_ms": statistics.fmean(ms),
        "throughput_rps": len(ms) / wall,
        **extra,
    }


async def sql_latency(
    dsn: str,
    qs: list[str],
    vectors: list[list[float]],
    *,
    mode: str,
    n: int,
    concurrency: int,
    top_k: int,
    ef_search: int,
    budget_s: float,
) -> dict[str, Any]:
    """The service's legs called directly (their SQL), in a tenant transaction each.

    Hybrid runs both legs at once on two connections, like the service's retriever.
    """
    import asyncpg

    from docpipe.common.db import _init_connection, tenant_transaction
    from docpipe.query.config import QuerySettings
    from docpipe.query.keyword import BM25, keyword_search
    from docpipe.query.pgvector_support import vector_support
    from docpipe.query.vector import VectorPlanner, vector_search

    settings = QuerySettings(database_url=dsn)  # the service's defaults
    # A hybrid search runs its legs on two connections at once, as the service does.
    size = concurrency * (2 if mode == "hybrid" else 1)
    pool = await asyncpg.create_pool(
        dsn,
        user="docpipe_query",
        min_size=size,
        max_size=size,
        init=_init_connection,
        command_timeout=REQUEST_TIMEOUT_S,
    )
    planner = VectorPlanner(ef_search=ef_search)
    limit = top_k if mode != "hybrid" else max(top_k, settings.candidates_per_leg)
    ranking = BM25(candidate_budget=settings.keyword_candidate_budget)

    errors: list[str] = []

    async def one(i: int) -> None:
        legs = []
        if mode != "vector":
            legs.append(_keyword_leg(i))
        if mode != "keyword":
            legs.append(_vector_leg(i))
        try:
            await asyncio.gather(*legs)
        except (TimeoutError, asyncpg.PostgresError) as exc:
            errors.append(type(exc).__name__)

    async def _keyword_leg(i: int) -> None:
        async with tenant_transaction(pool, TENANT, readonly=True) as conn:
            await keyword_search(conn, query=qs[i % len(qs)], limit=limit, scope=None, bm25=ranking)

    async def _vector_leg(i: int) -> None:
        async with tenant_transaction(pool, TENANT, readonly=True) as conn:
            support = await vector_support(conn, pool=pool)
            await vector_search(
                conn,
                vector=vectors[i % len(qs)],
                limit=limit,
                scope=None,
                support=support,
                planner=planner,
            )

    try:
        await _closed_loop(len(qs), concurrency, one, budget_s=WARMUP_BUDGET_S)
        errors.clear()
        latencies, wall = await _closed_loop(n, concurrency, one, budget_s=budget_s)
    finally:
        await pool.close()
    return _stats(latencies, wall, errors=dict(collections.Counter(errors)))


async def recall_at_10(
    admin: Any, vectors: list[list[float]], ef_values: list[int]
) -> list[dict[str, Any]]:
    """HNSW top-10 vs exact top-10 (sequential scan) for each query vector."""
    sql = "select id from chunks order by embedding <=> $1 limit 10"
    # A different statement text for the exact pass: asyncpg caches prepared statements,
    # and a generic plan cached with index scans off would make the "HNSW" pass exact too.
    exact_sql = sql + " -- exact"
    exact: list[set[Any]] = []
    async with admin.transaction():
        await admin.execute("set local enable_indexscan = off")
        await admin.execute("set local enable_bitmapscan = off")
        for v in vectors:
            exact.append(
                {r["id"] for r in await admin.fetch(exact_sql, np.asarray(v, dtype=np.float32))}
            )
    rows = []
    for ef in ef_values:
        found, times = [], []
        async with admin.transaction():
            await admin.execute(f"set local hnsw.ef_search = {int(ef)}")
            explained = await admin.fetch("explain " + sql, np.asarray(vectors[0], np.float32))
            plan = "\n".join(r[0] for r in explained)
            assert "chunks_embedding_hnsw" in plan, plan
            for v, truth in zip(vectors, exact, strict=True):
                t = time.perf_counter()
                ids = {r["id"] for r in await admin.fetch(sql, np.asarray(v, dtype=np.float32))}
                times.append(time.perf_counter() - t)
                found.append(len(ids & truth) / max(1, len(truth)))
        rows.append(
            {
                "ef_search": ef,
                "queries": len(found),
                "recall_at_10": statistics.fmean(found),
                "min_recall": min(found),
                "sql_p50_ms": statistics.median(times) * 1000,
            }
        )
    return rows


async def keyword_budget_quality(
    dsn: str, qs: list[str], *, budgets: list[int], limits: tuple[int, ...], count: int
) -> list[dict[str, Any]]:
    """What the keyword candidate budget costs: budgeted BM25 top-k vs exact BM25 top-k.

    Exact = every matching chunk scored (an unbounded budget). Both rankings use the full
    BM25 score, so "score kept" (the budgeted top-k's summed BM25 over the exact top-k's)
    says how much worse the chunks it returns instead are; overlap is recall@k against
    exact BM25. One connection, one query at a time (SQL p50 without contention).
    """
    import asyncpg

    from docpipe.common.db import tenant_transaction
    from docpipe.query.keyword import BM25, keyword_search

    pool = await asyncpg.create_pool(dsn, user="docpipe_query", min_size=1, max_size=1)

    async def top(query: str, limit: int, budget: int) -> tuple[list[Any], float]:
        async with tenant_transaction(pool, TENANT, readonly=True) as conn:
            t = time.perf_counter()
            hits = await keyword_search(
                conn,
                query=query,
                limit=limit,
                scope=None,
                bm25=BM25(candidate_budget=budget),
            )
            return hits, time.perf_counter() - t

    def row(
        limit: int, budget: str | int, overlap: list[float], kept: list[float], times: list[float]
    ) -> dict[str, Any]:
        return {
            "top_k": limit,
            "candidate_budget": budget,
            "queries": len(overlap),
            "overlap_with_exact": statistics.fmean(overlap),
            "bm25_score_kept": statistics.fmean(kept),
            "worst_score_kept": min(kept),
            "sql_p50_ms": statistics.median(times) * 1000,
        }

    rows: list[dict[str, Any]] = []
    try:
        for limit in limits:
            exact: dict[str, list[Any]] = {}
            exact_times: list[float] = []
            for q in qs[:count]:
                exact[q], took = await top(q, limit, UNBOUNDED_BUDGET)
                exact_times.append(took)
            for budget in budgets:
                overlap, kept, times = [], [], []
                for q, truth in exact.items():
                    hits, took = await top(q, limit, budget)
                    times.append(took)
                    if truth:
                        overlap.append(
                            len({h.chunk_id for h in hits} & {h.chunk_id for h in truth})
                            / len(truth)
                        )
                        kept.append(sum(h.score for h in hits) / sum(h.score for h in truth))
                rows.append(row(limit, budget, overlap, kept, times))
            # The exact pass above is its own reference: its timings are the last row.
            judged = [1.0 for truth in exact.values() if truth]
            rows.append(row(limit, "unbounded (exact)", judged, judged, exact_times))
    finally:
        await pool.close()
    return rows


async def measure_recall(
    admin: Any,
    source: EmbeddingSource,
    vectors: list[list[float]],
    *,
    ef_values: list[int],
    count: int,
) -> list[dict[str, Any]]:
    """Recall rows for two query sets: the search queries (``vectors``; short, so sparse
    vectors with the local embedder) and held-out chunk-like passages (in-distribution, the
    usual ANN-benchmark practice), both embedded by ``source``."""
    passages = list(chunk_texts(count, seed=10**9))
    held_out = await source.embed(passages, input_type="search_query", label="held-out passages")
    rows: list[dict[str, Any]] = []
    for query_set, query_vectors in (
        ("search queries", vectors[:count]),
        ("held-out passages", held_out),
    ):
        t = time.perf_counter()
        rows += [
            {"query_set": query_set, **row}
            for row in await recall_at_10(admin, query_vectors, ef_values)
        ]
        print(f"  recall, {query_set}: {time.perf_counter() - t:.0f} s", flush=True)
    return rows


async def _check_service_embedder(
    port: int, query: str, vector: list[float], admin: Any
) -> dict[str, Any]:
    """Fail unless the service embeds queries as the bench does.

    Its vector-mode scores are cosine similarities to its own query vector: they must equal
    the similarities of the bench's vector for ``query`` to the chunks returned. The first
    request also loads the service's model (seconds with MiniLM), outside the measurements.
    """
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        r = await client.post(
            "/v1/search", json={"query": query, "mode": "vector", "top_k": 10}, timeout=180
        )
    if r.status_code != 200:
        raise RuntimeError(f"service check: HTTP {r.status_code}: {r.text[:500]}")
    hits = r.json()["results"]
    if not hits:
        raise RuntimeError("service check: a vector search returned no chunks")
    rows = await admin.fetch(
        "select id, 1 - (embedding <=> $1) as similarity from chunks where id = any($2::uuid[])",
        np.asarray(vector, dtype=np.float32),
        [uuid.UUID(h["chunk_id"]) for h in hits],
    )
    expected = {row["id"]: row["similarity"] for row in rows}
    worst = max(abs(h["score"] - expected[uuid.UUID(h["chunk_id"])]) for h in hits)
    if worst > 1e-3:
        raise RuntimeError(
            f"the service's query vectors differ from the bench's (score off by {worst:.3f}):"
            " is its EMBEDDING_PROVIDER the bench's embedder?"
        )
    return {"query": query, "hits": len(hits), "max_score_difference": worst}


async def query_embedding_cost(qs: list[str], source: EmbeddingSource) -> dict[str, float]:
    """One query at a time, as the service embeds them (model already loaded, no cache)."""
    embedder = source.embedder()
    await embedder.embed(qs[:1], input_type="search_query")
    times = []
    for q in qs:
        t = time.perf_counter()
        await embedder.embed([q], input_type="search_query")
        times.append((time.perf_counter() - t) * 1000)
    return {
        f"{source.name}_query_embedding_p50_ms": statistics.median(times),
        f"{source.name}_query_embedding_p95_ms": percentiles(times)["p95"],
    }


# ---------------------------------------------------------------------------------- main


async def _measure_size(
    stack: Stack,
    dsn: str,
    admin: Any,
    size: int,
    args: argparse.Namespace,
    qs: list[str],
    vectors: list[list[float]],
    source: EmbeddingSource,
) -> dict[str, Any]:
    from bench._conditions import _git_commit
    from docpipe.devstack.embedded import free_port
    from docpipe.query.config import QuerySettings

    ef_search = QuerySettings(database_url=dsn).ef_search
    efs = sorted({ef_search, *EF_SWEEP})
    if args.recall_only:
        recall_only = {"chunks": size, "ef_search": ef_search, "code_at_start": _git_commit()}
        recall_only["recall"] = await measure_recall(
            admin, source, vectors, ef_values=efs, count=args.recall_queries
        )
        return recall_only
    port = free_port()
    proc = _start_service(stack, dsn, port, embedder=source.name)

    result: dict[str, Any] = {
        "chunks": size,
        "ef_search": ef_search,
        "modes": {},
        "code_at_start": _git_commit(),
    }
    try:
        result["service_embedder_check"] = await _check_service_embedder(
            port, qs[0], vectors[0], admin
        )
        for mode in MODES:
            service = await service_latency(
                port,
                qs,
                mode=mode,
                n=args.requests,
                concurrency=args.concurrency,
                top_k=args.top_k,
                budget_s=args.budget,
            )
            sql = await sql_latency(
                dsn,
                qs,
                vectors,
                mode=mode,
                n=args.requests,
                concurrency=args.concurrency,
                top_k=args.top_k,
                ef_search=ef_search,
                budget_s=args.budget,
            )
            result["modes"][mode] = {
                "service": service,
                "sql": sql,
                "overhead_p50": service["p50_ms"] / sql["p50_ms"],
            }
            print(
                f"  {size:,} {mode}: service p50 {service['p50_ms']:.1f} ms p95 "
                f"{service['p95_ms']:.1f}; SQL p50 {sql['p50_ms']:.1f} ms",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result["recall"] = await measure_recall(
        admin, source, vectors, ef_values=efs, count=args.recall_queries
    )
    t = time.perf_counter()
    settings = QuerySettings(database_url=dsn)
    result["keyword_budget"] = await keyword_budget_quality(
        dsn,
        qs,
        budgets=sorted({*KEYWORD_BUDGETS, settings.keyword_candidate_budget}),
        limits=(args.top_k, settings.candidates_per_leg),
        count=args.recall_queries,
    )
    print(f"  keyword budget vs exact BM25: {time.perf_counter() - t:.0f} s", flush=True)
    return result


async def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg
    from pgvector.asyncpg import register_vector

    dsn = await create_database(stack, database="query", dimensions=DIMENSIONS)
    admin = await asyncpg.connect(stack.pg.dsn(database="query"))
    await register_vector(admin)
    source = EmbeddingSource(args.embedder, DIMENSIONS)
    qs = queries(args.queries, seed=3)
    vectors = await source.embed(qs, input_type="search_query", label="search queries")
    results: dict[str, Any] = {"embedder": args.embedder, "sizes": [], "load": []}
    results["pgvector"] = await admin.fetchval(
        "select extversion from pg_extension where extname = 'vector'"
    )
    loaded = 0
    try:
        for size in args.sizes:
            await _drop_indexes(admin)
            t = time.perf_counter()
            load = await load_chunks(admin, start=loaded, stop=size, source=source)
            load.update(await _build_indexes(admin))
            load["total_s"] = time.perf_counter() - t
            load["chunks"] = size
            results["load"].append(load)
            loaded = size
            print(
                f"  {size:,} chunks ready in {load['total_s']:.0f} s "
                f"(HNSW build {load['hnsw_build_s']:.0f} s)",
                flush=True,
            )
            results["sizes"].append(
                await _measure_size(stack, dsn, admin, size, args, qs, vectors, source)
            )
    finally:
        await admin.close()
    if not args.recall_only:
        results["query_embedding"] = await query_embedding_cost(qs, source)
    results["embedding"] = source.facts()
    return results


def _report(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for s in results["sizes"]:
        for mode, m in s["modes"].items():
            rows.append(
                {
                    "chunks": s["chunks"],
                    "mode": mode,
                    "requests": m["service"]["requests"],
                    "p50 ms": m["service"]["p50_ms"],
                    "p95 ms": m["service"]["p95_ms"],
                    "p99 ms": m["service"]["p99_ms"],
                    "req/s": m["service"]["throughput_rps"],
                    "server took_ms p50": m["service"]["server_took_ms"],
                    "SQL p50 ms": m["sql"]["p50_ms"],
                    "SQL p95 ms": m["sql"]["p95_ms"],
                    "overhead (p50 ratio)": f"{m['overhead_p50']:.2f}x",
                }
            )
    print_table(
        f"POST /v1/search, {args.requests} requests per mode, {args.concurrency} in flight,"
        f" top_k={args.top_k}",
        rows,
    )
    recall_target = _recall_report(results)
    print_table(
        "Keyword leg: BM25 within a candidate budget vs exact BM25 (every match scored)",
        [{"chunks": s["chunks"], **r} for s in results["sizes"] for r in s["keyword_budget"]],
    )
    _print_loading(results)
    small, big = results["sizes"][0], results["sizes"][-1]
    hybrid_p95 = big["modes"]["hybrid"]["service"]["p95_ms"]
    growth = {
        m: big["modes"][m]["service"]["p50_ms"] / small["modes"][m]["service"]["p50_ms"]
        for m in MODES
    }
    overhead = {
        f"{s['chunks']}:{m}": s["modes"][m]["overhead_p50"] for s in results["sizes"] for m in MODES
    }
    return {
        "hybrid_p95_ms_at_largest": {
            "target": TARGETS["hybrid_p95_ms_100k"],
            "measured": hybrid_p95,
            "met": hybrid_p95 <= TARGETS["hybrid_p95_ms_100k"],
        },
        "p50_growth_small_to_large": {
            "target": TARGETS["p50_growth"],
            "measured": growth,
            "met": all(g <= TARGETS["p50_growth"] for g in growth.values()),
        },
        "service_overhead_p50": {
            "target": TARGETS["overhead"],
            "measured": overhead,
            "met": all(o <= TARGETS["overhead"] for o in overhead.values()),
        },
        **recall_target,
    }


def _recall_target(size: dict[str, Any]) -> dict[str, Any]:
    """Recall at the service's ef_search, and the smallest swept ef_search reaching 0.95."""
    ef = size["ef_search"]
    rows = size["recall"]
    recall = {r["query_set"]: r["recall_at_10"] for r in rows if r["ef_search"] == ef}
    enough = {
        q: min(
            (
                r["ef_search"]
                for r in rows
                if r["query_set"] == q and r["recall_at_10"] >= TARGETS["recall"]
            ),
            default=None,
        )
        for q in recall
    }
    return {
        "target": TARGETS["recall"],
        "ef_search": ef,
        "measured": recall,
        "smallest_ef_search_meeting_it": enough,
        "met": all(v >= TARGETS["recall"] for v in recall.values()),
    }


def _recall_report(results: dict[str, Any]) -> dict[str, Any]:
    """Prints the recall table; returns the recall targets (largest size, and by size)."""
    print_table(
        f"Vector recall@10 vs exact search (HNSW m=16, ef_construction=64),"
        f" {results['embedder']} embeddings",
        [{"chunks": s["chunks"], **r} for s in results["sizes"] for r in s["recall"]],
    )
    return {
        "recall_at_10": _recall_target(results["sizes"][-1]),
        "recall_at_10_by_size": {str(s["chunks"]): _recall_target(s) for s in results["sizes"]},
    }


def _print_loading(results: dict[str, Any]) -> None:
    print_table(
        "Loading (COPY + INSERT…SELECT, indexes built after)",
        [
            {
                "chunks": x["chunks"],
                "embed s": x["embed_s"],
                "copy+insert s": x["copy_insert_s"],
                "HNSW build s": x["hnsw_build_s"],
                "GIN build s": x["gin_build_s"],
                "total s": x["total_s"],
            }
            for x in results["load"]
        ],
    )


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if not sizes or sizes[0] < 1 or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError(f"sizes must be positive and increasing: {text!r}")
    return sizes


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        default="local",
        help="local: feature hashing (seconds); minilm: all-MiniLM-L6-v2 (about an hour per"
        " 100k chunks on 2 cores the first time, then cached in .local/bench-cache)",
    )
    parser.add_argument(
        "--recall-only",
        action="store_true",
        help="load and measure recall only (no service or SQL latency); writes"
        " bench/results/vector_recall_<embedder>.json",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="chunk counts, increasing, comma-separated (default 10000,100000; quick 2000,20000)",
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=100)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument(
        "--budget", type=float, default=45.0, help="seconds per (size, mode, path) measurement"
    )
    args = parser.parse_args()
    if args.quick:
        args.requests, args.queries, args.recall_queries, args.budget = 100, 50, 50, 20.0
    if args.sizes is None:
        args.sizes = [2_000, 20_000] if args.quick else [10_000, 100_000]
    if not 1 <= args.recall_queries <= args.queries:
        parser.error("--recall-queries must be between 1 and --queries")
    return args


def _result_name(args: argparse.Namespace) -> str:
    if args.recall_only:
        return f"vector_recall_{args.embedder}"
    name = "query_latency" if args.embedder == "local" else f"query_latency_{args.embedder}"
    # Another load level is another result, not a replacement for the reference run.
    return name if args.concurrency == DEFAULT_CONCURRENCY else f"{name}_c{args.concurrency}"


def main() -> None:
    args = _parse_args()
    bytecode = use_compiled_bytecode()
    warm_bytecode("docpipe.query.main", "uvicorn")
    started = time.perf_counter()
    with embedded_stack("query", aws=False) as stack:
        results = asyncio.run(run(stack, args))
    if args.recall_only:
        targets = _recall_report(results)
        _print_loading(results)
    else:
        targets = _report(results, args)
        print(f"\nquery embedding ({args.embedder}, measured apart): {results['query_embedding']}")
    print(f"\nembeddings: {json.dumps(results['embedding'])}")
    print("\nTargets:", json.dumps(targets, indent=2))
    facts = conditions(
        quick=args.quick,
        embedder=args.embedder,
        recall_only=args.recall_only,
        sizes=args.sizes,
        queries=args.queries,
        recall_queries_per_set=args.recall_queries,
        ef_sweep=list(EF_SWEEP),
        hnsw={"m": 16, "ef_construction": 64, "pgvector": results["pgvector"]},
        bytecode=bytecode,
        requests_per_mode=None if args.recall_only else args.requests,
        concurrency=None if args.recall_only else args.concurrency,
        top_k=args.top_k,
        bench_wall_s=round(time.perf_counter() - started),
    )
    print_conditions(facts)
    write_results(_result_name(args), {**results, "targets": targets, "conditions": facts})


if __name__ == "__main__":
    main()
