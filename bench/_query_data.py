"""The query benchmarks' data and options: chunks loaded into a private database.

Synthetic but realistic chunks (recombined MS MARCO sentences, 600-1,200 characters, 50
per document, one tenant), embedded with ``--embedder`` (384-d): ``local`` (feature
hashing, the default: seconds for 100k chunks, but near-random vectors) or ``minilm``
(all-MiniLM-L6-v2, real semantic vectors: about an hour for 100k chunks on 2 cores, cached
in .local/bench-cache by bench._vectors), bulk-loaded with COPY into a private pgserver
database; the HNSW and GIN indexes are (re)built after each load, as for any bulk load.
Each size is a superset of the previous one, so sizes load incrementally.

Used by :mod:`bench.search_latency`, :mod:`bench.vector_recall`,
:mod:`bench.keyword_budget` and :mod:`bench.query_latency` (which runs the three).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench._corpus import chunk_texts, queries
from bench._stack import Stack, create_database, embedded_stack
from bench._vectors import EMBEDDERS, EmbeddingSource

__all__ = [
    "CHUNKS_PER_DOCUMENT",
    "DEFAULT_CONCURRENCY",
    "DIMENSIONS",
    "TENANT",
    "QueryData",
    "load_chunks",
    "measure_sizes",
    "parse_args",
    "run_alone",
]

DIMENSIONS = 384
TENANT = "default"  # AUTH_MODE=none: every request belongs to the tenant "default"
CHUNKS_PER_DOCUMENT = 50
DEFAULT_CONCURRENCY = 4  # requests in flight: twice the cores, so requests queue


# -------------------------------------------------------------------------------- loading


async def drop_indexes(conn: Any) -> None:
    await conn.execute("drop index if exists chunks_embedding_hnsw")
    await conn.execute("drop index if exists chunks_keywords_gin")


async def build_indexes(conn: Any) -> dict[str, float]:
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


@dataclass
class QueryData:
    """A loaded database and the search queries (with their vectors) to run against it."""

    stack: Stack
    dsn: str  # the app role's DSN (row-level security applies)
    admin: Any  # a superuser asyncpg connection, pgvector registered
    source: EmbeddingSource
    queries: list[str]
    vectors: list[list[float]]
    pgvector: str


#: one benchmark's measurement of the database at a size: ``measure(data, size, args)``
Measure = Callable[[QueryData, int, argparse.Namespace], Awaitable[dict[str, Any]]]


async def measure_sizes(stack: Stack, args: argparse.Namespace, measure: Measure) -> dict[str, Any]:
    """Load each of ``args.sizes`` chunks in turn and ``measure`` the database at that size.

    Returns ``{"embedder", "pgvector", "load": [per size], "sizes": [measure's result per
    size, with "chunks"], "embedding": the embedder's facts}``.
    """
    import asyncpg
    from pgvector.asyncpg import register_vector

    dsn = await create_database(stack, database="query", dimensions=DIMENSIONS)
    admin = await asyncpg.connect(stack.pg.dsn(database="query"))
    await register_vector(admin)
    source = EmbeddingSource(args.embedder, DIMENSIONS)
    qs = queries(args.queries, seed=3)
    vectors = await source.embed(qs, input_type="search_query", label="search queries")
    version = await admin.fetchval("select extversion from pg_extension where extname = 'vector'")
    data = QueryData(stack, dsn, admin, source, qs, vectors, str(version))
    results: dict[str, Any] = {"embedder": args.embedder, "pgvector": data.pgvector}
    results |= {"sizes": [], "load": []}
    loaded = 0
    try:
        for size in args.sizes:
            await drop_indexes(admin)
            t = time.perf_counter()
            load = await load_chunks(admin, start=loaded, stop=size, source=source)
            load.update(await build_indexes(admin))
            load["total_s"] = time.perf_counter() - t
            load["chunks"] = size
            results["load"].append(load)
            loaded = size
            print(
                f"  {size:,} chunks ready in {load['total_s']:.0f} s "
                f"(HNSW build {load['hnsw_build_s']:.0f} s)",
                flush=True,
            )
            results["sizes"].append({"chunks": size, **await measure(data, size, args)})
    finally:
        await admin.close()
    results["embedding"] = source.facts()
    return results


def run_alone(description: str, measure: Measure) -> tuple[dict[str, Any], argparse.Namespace]:
    """One query benchmark on its own: its options, a private database, each size measured."""
    args = parse_args(description)
    with embedded_stack("query", aws=False) as stack:
        results = asyncio.run(measure_sizes(stack, args, measure))
    return results, args


# -------------------------------------------------------------------------------- options


def sizes_arg(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if not sizes or sizes[0] < 1 or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError(f"sizes must be positive and increasing: {text!r}")
    return sizes


def parse_args(description: str) -> argparse.Namespace:
    """The options every query benchmark takes (each uses the ones it needs)."""
    parser = argparse.ArgumentParser(description=description)
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
        type=sizes_arg,
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
