"""Vector recall@10 of the HNSW index against exact search, through the service's leg.

For two query sets (the search queries, and held-out chunk-like passages: in-distribution,
the usual ANN-benchmark practice), the service's vector leg
(``docpipe.query.vector.vector_search``, its SQL and ``hnsw.ef_search`` handling) returns
the top 10 at the service's ``ef_search`` and at each of a sweep wide enough to find the
smallest one reaching the 0.95 target; exact top-10s (a sequential scan) are the truth.
Each row has the leg's SQL p50 at that ``ef_search``.

Data: :mod:`bench._query_data`. Run alone (prints its table; ``make bench-query-latency``
records it with the other query benchmarks, ``--recall-only`` without the latency part):

    uv run python -m bench.vector_recall [--quick] [--embedder minilm] [--sizes 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from bench._conditions import print_table
from bench._corpus import chunk_texts
from bench._query_data import QueryData, run_alone
from bench._vectors import EmbeddingSource

__all__ = ["EF_SWEEP", "TARGET", "measure", "recall_at_10", "recall_report", "recall_target"]

TARGET = 0.95
# hnsw.ef_search values for recall (10 = top_k, the least the service uses; 1000 = pgvector's max)
EF_SWEEP = (10, 20, 40, 64, 100, 150, 200, 400, 800, 1000)


async def recall_at_10(
    admin: Any, vectors: list[list[float]], ef_values: list[int], *, pgvector: str
) -> list[dict[str, Any]]:
    """The service's vector leg's top-10 vs exact top-10 (sequential scan) per query vector.

    ``admin`` is a superuser connection: row-level security hides nothing, as the one
    tenant owns every chunk.
    """
    from docpipe.query.pgvector_support import VectorSupport, parse_version
    from docpipe.query.vector import VectorPlanner, vector_search

    support = VectorSupport(parse_version(pgvector))
    sql = "select id from chunks order by embedding <=> $1 limit 10"
    # A statement of its own for the exact pass: asyncpg caches prepared statements, and a
    # generic plan cached with index scans off would make the service's pass exact too.
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
        planner = VectorPlanner(ef_search=ef)
        found, times = [], []
        async with admin.transaction():
            await admin.execute(f"set local hnsw.ef_search = {int(ef)}")
            explained = await admin.fetch("explain " + sql, np.asarray(vectors[0], np.float32))
            plan = "\n".join(r[0] for r in explained)
            assert "chunks_embedding_hnsw" in plan, plan
        for v, truth in zip(vectors, exact, strict=True):
            async with admin.transaction():
                t = time.perf_counter()
                name, hits = await vector_search(
                    admin, vector=v, limit=10, scope=None, support=support, planner=planner
                )
                times.append(time.perf_counter() - t)
            assert name in ("index", "iterative"), name  # the HNSW index, not an exact scan
            ids = {h.chunk_id for h in hits}
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


async def measure_recall(
    admin: Any,
    source: EmbeddingSource,
    vectors: list[list[float]],
    *,
    ef_values: list[int],
    count: int,
    pgvector: str,
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
            for row in await recall_at_10(admin, query_vectors, ef_values, pgvector=pgvector)
        ]
        print(f"  recall, {query_set}: {time.perf_counter() - t:.0f} s", flush=True)
    return rows


async def measure(data: QueryData, size: int, args: argparse.Namespace) -> dict[str, Any]:
    from docpipe.query.config import QuerySettings

    ef_search = QuerySettings(database_url=data.dsn).ef_search
    rows = await measure_recall(
        data.admin,
        data.source,
        data.vectors,
        ef_values=sorted({ef_search, *EF_SWEEP}),
        count=args.recall_queries,
        pgvector=data.pgvector,
    )
    return {"ef_search": ef_search, "recall": rows}


def recall_target(size: dict[str, Any]) -> dict[str, Any]:
    """Recall at the service's ef_search, and the smallest swept ef_search reaching 0.95."""
    ef = size["ef_search"]
    rows = size["recall"]
    recall = {r["query_set"]: r["recall_at_10"] for r in rows if r["ef_search"] == ef}
    enough = {
        q: min(
            (r["ef_search"] for r in rows if r["query_set"] == q and r["recall_at_10"] >= TARGET),
            default=None,
        )
        for q in recall
    }
    return {
        "target": TARGET,
        "ef_search": ef,
        "measured": recall,
        "smallest_ef_search_meeting_it": enough,
        "met": all(v >= TARGET for v in recall.values()),
    }


def recall_report(results: dict[str, Any]) -> dict[str, Any]:
    """Prints the recall table; returns the recall targets (largest size, and by size)."""
    print_table(
        f"Vector recall@10 vs exact search (HNSW m=16, ef_construction=64),"
        f" {results['embedder']} embeddings",
        [{"chunks": s["chunks"], **r} for s in results["sizes"] for r in s["recall"]],
    )
    return {
        "recall_at_10": recall_target(results["sizes"][-1]),
        "recall_at_10_by_size": {str(s["chunks"]): recall_target(s) for s in results["sizes"]},
    }


def main() -> None:
    results, _ = run_alone(__doc__.splitlines()[0], measure)
    recall_report(results)


if __name__ == "__main__":
    main()
