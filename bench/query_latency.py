"""Query latency at scale: ``POST /v1/search`` per mode at 10k and 100k chunks.

- Data: synthetic but realistic chunks (recombined MS MARCO sentences, 600-1,200
  characters, 50 per document, one tenant), embedded with the ``local`` embedder (384-d),
  bulk-loaded with COPY into a private pgserver database; the HNSW and GIN indexes are
  (re)built after each load, as for any bulk load.
- Service: the query app under uvicorn in its own process (one worker), called by an
  httpx async client keeping ``--concurrency`` requests in flight; ``--requests`` per mode
  after a warm-up pass that also fills the service's query-embedding cache, so the
  query-embedding call is excluded (its cost with the local embedder is measured apart).
- SQL: the same legs run directly (the service's own data functions, which issue the SQL,
  inside a tenant transaction on an asyncpg pool) at the same concurrency: the ratio of
  the two is the service's overhead (HTTP, validation, auth, pool, JSON).
- Recall@10 of the HNSW index at the service's ``ef_search`` (and a few others) against
  exact search.

    uv run python -m bench.query_latency [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
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

__all__ = ["main"]

DIMENSIONS = 384
TENANT = "default"  # AUTH_MODE=none: every request belongs to the tenant "default"
CHUNKS_PER_DOCUMENT = 50
MODES = ("vector", "keyword", "hybrid")
TARGETS = {"hybrid_p95_ms_100k": 50.0, "p50_growth": 2.0, "overhead": 1.5, "recall": 0.95}
ROOT = Path(__file__).resolve().parents[1]
WARMUP_BUDGET_S = 15.0
REQUEST_TIMEOUT_S = 60.0
EF_SWEEP = (40, 100, 200, 400, 800)


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
    admin: Any, *, start: int, stop: int, batch: int = 10_000
) -> dict[str, float]:
    """Chunks ``start``..``stop`` (and their documents), COPY + INSERT…SELECT per batch."""
    from docpipe.common.embeddings.local import LocalHashEmbedder
    from docpipe.common.keywords import keyword_text, tsvector_sql

    embedder = LocalHashEmbedder(dimensions=DIMENSIONS)
    embed_s = copy_s = 0.0
    for lo in range(start, stop, batch):
        hi = min(stop, lo + batch)
        texts = list(chunk_texts(hi - lo, seed=lo))
        t = time.perf_counter()
        vectors = await embedder.embed(texts, input_type="search_document")
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


def _start_service(stack: Stack, dsn: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "EMBEDDING_PROVIDER": "local",
        "EMBEDDING_DIMENSIONS": str(DIMENSIONS),
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
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
        took: list[float] = []
        errors: list[str] = []

        async def one(i: int) -> None:
            body = {"query": qs[i % len(qs)], "mode": mode, "top_k": top_k}
            try:
                r = await client.post("/v1/search", json=body, timeout=REQUEST_TIMEOUT_S)
            except httpx.TimeoutException:
                errors.append("client timeout")
                return
            if r.status_code != 200:
                errors.append(f"HTTP {r.status_code}")
                return
            took.append(r.json()["took_ms"])

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
    """The service's legs called directly (their SQL), in a tenant transaction each."""
    import asyncpg

    from docpipe.common.db import _init_connection, tenant_transaction
    from docpipe.query.keyword import keyword_search
    from docpipe.query.pgvector_support import vector_support
    from docpipe.query.vector import VectorPlanner, vector_search

    pool = await asyncpg.create_pool(
        dsn,
        min_size=concurrency,
        max_size=concurrency,
        init=_init_connection,
        command_timeout=REQUEST_TIMEOUT_S,
    )
    planner = VectorPlanner(ef_search=ef_search)
    limit = top_k if mode != "hybrid" else max(top_k, 50)

    errors: list[str] = []

    async def one(i: int) -> None:
        try:
            await _legs(i)
        except (TimeoutError, asyncpg.PostgresError) as exc:
            errors.append(type(exc).__name__)

    async def _legs(i: int) -> None:
        async with tenant_transaction(pool, TENANT, readonly=True) as conn:
            if mode != "vector":
                await keyword_search(conn, query=qs[i % len(qs)], limit=limit, document_ids=None)
            if mode != "keyword":
                support = await vector_support(conn, pool=pool)
                await vector_search(
                    conn,
                    vector=vectors[i % len(qs)],
                    limit=limit,
                    document_ids=None,
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
                "recall_at_10": statistics.fmean(found),
                "min_recall": min(found),
                "sql_p50_ms": statistics.median(times) * 1000,
            }
        )
    return rows


async def query_embedding_cost(qs: list[str]) -> dict[str, float]:
    from docpipe.common.embeddings.local import LocalHashEmbedder

    embedder = LocalHashEmbedder(dimensions=DIMENSIONS)
    times = []
    for q in qs:
        t = time.perf_counter()
        await embedder.embed([q], input_type="search_query")
        times.append((time.perf_counter() - t) * 1000)
    return {
        "local_query_embedding_p50_ms": statistics.median(times),
        "local_query_embedding_p95_ms": percentiles(times)["p95"],
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
) -> dict[str, Any]:
    from docpipe.devstack.embedded import free_port
    from docpipe.query.config import QuerySettings

    ef_search = QuerySettings(database_url=dsn).ef_search
    port = free_port()
    proc = _start_service(stack, dsn, port)
    from bench._conditions import _git_commit

    result: dict[str, Any] = {
        "chunks": size,
        "ef_search": ef_search,
        "modes": {},
        "code_at_start": _git_commit(),
    }
    try:
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
    efs = sorted({ef_search, *EF_SWEEP})
    # Two query sets: the search queries (short: sparse vectors with the local embedder), and
    # held-out chunk-like passages (in-distribution, the usual ANN-benchmark practice).
    passages = list(chunk_texts(args.recall_queries, seed=10**9))
    from docpipe.common.embeddings.local import LocalHashEmbedder

    like = await LocalHashEmbedder(dimensions=DIMENSIONS).embed(passages, input_type="search_query")
    result["recall"] = await recall_at_10(admin, vectors[: args.recall_queries], efs)
    for row in result["recall"]:
        row["query_set"] = "search queries"
    in_dist = await recall_at_10(admin, like, efs)
    for row in in_dist:
        row["query_set"] = "held-out passages"
    result["recall"] += in_dist
    return result


async def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg
    from pgvector.asyncpg import register_vector

    from docpipe.common.embeddings.local import LocalHashEmbedder

    dsn = await create_database(stack, database="query", dimensions=DIMENSIONS)
    admin = await asyncpg.connect(stack.pg.dsn(database="query"))
    await register_vector(admin)
    qs = queries(args.queries, seed=3)
    vectors = await LocalHashEmbedder(dimensions=DIMENSIONS).embed(qs, input_type="search_query")
    sizes = [2_000, 20_000] if args.quick else [10_000, 100_000]
    results: dict[str, Any] = {"sizes": [], "load": []}
    loaded = 0
    try:
        for size in sizes:
            await _drop_indexes(admin)
            t = time.perf_counter()
            load = await load_chunks(admin, start=loaded, stop=size)
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
            results["sizes"].append(await _measure_size(stack, dsn, admin, size, args, qs, vectors))
    finally:
        await admin.close()
    results["query_embedding"] = await query_embedding_cost(qs)
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
    print_table(
        "Vector recall@10 vs exact search (HNSW m=16, ef_construction=64)",
        [{"chunks": s["chunks"], **r} for s in results["sizes"] for r in s["recall"]],
    )
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
    small, big = results["sizes"][0], results["sizes"][-1]
    ef = big["ef_search"]
    recall = {r["query_set"]: r["recall_at_10"] for r in big["recall"] if r["ef_search"] == ef}
    enough = {
        q: min(
            (
                r["ef_search"]
                for r in big["recall"]
                if r["query_set"] == q and r["recall_at_10"] >= TARGETS["recall"]
            ),
            default=None,
        )
        for q in recall
    }
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
        "recall_at_10": {
            "target": TARGETS["recall"],
            "ef_search": ef,
            "measured": recall,
            "smallest_ef_search_meeting_it": enough,
            "met": all(v >= TARGETS["recall"] for v in recall.values()),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=100)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument(
        "--budget", type=float, default=45.0, help="seconds per (size, mode, path) measurement"
    )
    args = parser.parse_args()
    bytecode = use_compiled_bytecode()
    warm_bytecode("docpipe.query.main", "uvicorn")
    if args.quick:
        args.requests, args.queries, args.recall_queries, args.budget = 100, 50, 50, 20.0
    started = time.perf_counter()
    with embedded_stack("query", aws=False) as stack:
        results = asyncio.run(run(stack, args))
    targets = _report(results, args)
    print(f"\nquery embedding (local embedder, measured apart): {results['query_embedding']}")
    print("\nTargets:", json.dumps(targets, indent=2))
    facts = conditions(
        quick=args.quick,
        bytecode=bytecode,
        requests_per_mode=args.requests,
        concurrency=args.concurrency,
        top_k=args.top_k,
        bench_wall_s=round(time.perf_counter() - started),
    )
    print_conditions(facts)
    write_results("query_latency", {**results, "targets": targets, "conditions": facts})


if __name__ == "__main__":
    main()
