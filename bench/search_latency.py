"""Search latency: ``POST /v1/search`` per mode, against the same search run in-process.

- Service: the query app under uvicorn in its own process (one worker), called by a lean
  keep-alive HTTP client (bench._http: the load generator shares the cores, so its own
  CPU must stay small) keeping ``--concurrency`` requests in flight; ``--requests`` per mode
  after a warm-up pass that also fills the service's query-embedding cache, so the
  query-embedding call is excluded (its cost with the local embedder is measured apart).
- In-process ("SQL" in the results): the service's own retriever
  (``docpipe.query.search.Retriever``, built by the service's ``get_retriever``) called
  directly on an asyncpg pool at the same concurrency: each leg in a tenant transaction,
  hybrid's two at once and fused as the service does. The ratio of the two is the
  service's overhead (HTTP, validation, auth, JSON).

Data: :mod:`bench._query_data`. Run alone (prints its table; ``make bench-query-latency``
records it with the other query benchmarks):

    uv run python -m bench.search_latency [--quick] [--sizes 10000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from bench._conditions import percentiles, print_table
from bench._corpus import queries
from bench._query_data import DIMENSIONS, TENANT, QueryData, run_alone
from bench._stack import Stack, use_compiled_bytecode, warm_bytecode
from bench._vectors import EmbeddingSource, service_env

if TYPE_CHECKING:
    from docpipe.query.schemas import SearchMode

__all__ = ["MODES", "measure", "print_latency", "query_embedding_cost"]

ROOT = Path(__file__).resolve().parents[1]
MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
WARMUP_BUDGET_S = 15.0
REQUEST_TIMEOUT_S = 60.0


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
    port: int, qs: list[str], *, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    """``args.requests`` ``POST /v1/search`` in ``mode``, ``args.concurrency`` in flight."""
    n, concurrency, top_k, budget_s = args.requests, args.concurrency, args.top_k, args.budget
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


async def retriever_latency(
    data: QueryData, *, mode: SearchMode, args: argparse.Namespace
) -> dict[str, Any]:
    """The service's retriever called in-process, as many searches as ``service_latency``."""
    n, concurrency, top_k, budget_s = args.requests, args.concurrency, args.top_k, args.budget
    import asyncpg
    from pgvector.asyncpg import register_vector

    from docpipe.query.config import QuerySettings
    from docpipe.query.deps import get_retriever
    from docpipe.query.query_embeddings import QueryEmbeddings

    os.environ.update(service_env(data.source.name, DIMENSIONS))  # as the service is set up
    settings = QuerySettings(database_url=data.dsn)
    # A hybrid search runs its legs on two connections at once, as the service does.
    size = concurrency * (2 if mode == "hybrid" else 1)
    pool = await asyncpg.create_pool(
        data.dsn,
        user="docpipe_query",  # the query service's own role
        min_size=size,
        max_size=size,
        init=register_vector,
        command_timeout=REQUEST_TIMEOUT_S,
    )
    embeddings = QueryEmbeddings(data.source.embedder())
    # The service builds its retriever per request from its settings and app state.
    app = SimpleNamespace(state=SimpleNamespace(query_embeddings=embeddings))
    # Only ``request.app.state`` is read: a namespace stands in for the request.
    retriever = await get_retriever(cast(Any, SimpleNamespace(app=app)), settings, pool)
    errors: list[str] = []
    qs = data.queries

    async def one(i: int) -> None:
        try:
            await retriever.search(reader=TENANT, query=qs[i % len(qs)], mode=mode, top_k=top_k)
        except (TimeoutError, asyncpg.PostgresError) as exc:
            errors.append(type(exc).__name__)

    try:
        # Warm-up: fills the query-embedding cache, as the service's warm-up pass does.
        await _closed_loop(len(qs), concurrency, one, budget_s=WARMUP_BUDGET_S)
        errors.clear()
        latencies, wall = await _closed_loop(n, concurrency, one, budget_s=budget_s)
    finally:
        await pool.close()
    return _stats(latencies, wall, errors=dict(collections.Counter(errors)))


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


async def measure(data: QueryData, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every mode through the service and in-process, at ``size`` chunks."""
    from docpipe.devstack.embedded import free_port

    port = free_port()
    proc = _start_service(data.stack, data.dsn, port, embedder=data.source.name)
    result: dict[str, Any] = {"modes": {}}
    try:
        result["service_embedder_check"] = await _check_service_embedder(
            port, data.queries[0], data.vectors[0], data.admin
        )
        for mode in MODES:
            service = await service_latency(port, data.queries, mode=mode, args=args)
            sql = await retriever_latency(data, mode=mode, args=args)
            result["modes"][mode] = {
                "service": service,
                "sql": sql,
                "overhead_p50": service["p50_ms"] / sql["p50_ms"],
            }
            print(
                f"  {size:,} {mode}: service p50 {service['p50_ms']:.1f} ms p95 "
                f"{service['p95_ms']:.1f}; in-process p50 {sql['p50_ms']:.1f} ms",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return result


def print_latency(results: dict[str, Any], args: argparse.Namespace) -> None:
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


def main() -> None:
    use_compiled_bytecode()
    warm_bytecode("docpipe.query.main", "uvicorn")
    results, args = run_alone(__doc__.splitlines()[0], measure)
    source = EmbeddingSource(args.embedder, DIMENSIONS)
    embedding = asyncio.run(query_embedding_cost(queries(args.queries, seed=3), source))
    print_latency(results, args)
    print(f"query embedding ({args.embedder}, measured apart): {embedding}")


if __name__ == "__main__":
    main()
