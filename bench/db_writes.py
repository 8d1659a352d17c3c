"""Database writes: chunks with vectors per second, the processor's store path vs row by row.

Both paths write the same chunks (text, page span, content hash, vector, keyword
tsvector) of one document inside one tenant transaction, on the production schema (HNSW
and GIN indexes in place), as the services' role (row-level security applies):

- **docpipe**: ``docpipe.processor.document_rows.complete_document`` — one
  ``INSERT ... SELECT FROM unnest(...)`` (an array per column) that builds the tsvectors
  (until commit b498c77: COPY into a temporary table, then the same ``INSERT ... SELECT``);
- **baseline**: one ``INSERT ... VALUES`` statement per chunk (same tsvector SQL).

Runs alternate between the two paths; the median of the runs is reported. Each size is
measured on the production schema and with the HNSW and GIN indexes dropped, which
isolates what the one-statement path saves (round trips, per-statement overhead) from the index
maintenance both paths pay per row; and, on the docpipe path only, with one index of the
two dropped, which splits that maintenance between HNSW and GIN, and with the
keyword-statistics triggers (migration 0002) disabled too, which prices them.

    uv run python -m bench.db_writes [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from bench._conditions import conditions, print_conditions, print_table, write_results
from bench._corpus import chunk_texts
from bench._stack import (
    Stack,
    create_database,
    embedded_stack,
    use_compiled_bytecode,
    warm_bytecode,
)

__all__ = ["main"]

TARGET_SPEEDUP = 10.0
# 384: MiniLM / the local embedder; 1024: Cohere v4's and Titan v2's default; 512: the
# smaller Cohere v4 / Titan v2 output, to price the dimension's share of HNSW upkeep.
DIMENSIONS = (384, 512, 1024)
TENANT = "bench-writes"


def _chunks(count: int, dimensions: int, seed: int) -> list[Any]:
    from docpipe.processor.document_rows import ChunkRow

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    for n, text in enumerate(chunk_texts(count, seed=seed)):
        text = f"[{seed}:{n}] {text}"
        rows.append(
            ChunkRow(
                ordinal=n,
                page_start=n // 2 + 1,
                page_end=n // 2 + 1,
                text=text,
                content_sha256=hashlib.sha256(text.encode()).hexdigest(),
                embedding=vectors[n],
            )
        )
    return rows


@dataclass(frozen=True)
class Pools:
    """One pool per service role the write involves: the upload service's role creates
    the document row (the processor's may not insert documents, migration 0007), the
    processor's claims it and writes its chunks."""

    upload: Any
    processor: Any


async def _new_document(pools: Pools) -> tuple[uuid.UUID, uuid.UUID]:
    """A queued document claimed by this run (the store path needs a live claim)."""
    from docpipe.common.db import tenant_transaction
    from docpipe.processor.document_rows import ClaimOutcome, claim_document

    doc_id = uuid.uuid4()
    key = f"uploads/bench/{doc_id}"
    async with tenant_transaction(pools.upload, TENANT) as conn:
        await conn.execute(
            "insert into documents (id, tenant_id, filename, content_type, size_bytes,"
            " storage_key, status) values ($1, $2, 'bench.txt', 'text/plain', 0, $3, 'queued')",
            doc_id,
            TENANT,
            key,
        )
    claim = await claim_document(
        pools.processor,
        tenant_id=TENANT,
        document_id=doc_id,
        storage_key=key,
        version=None,
        lease=timedelta(minutes=15),
        max_attempts=5,
    )
    assert claim.outcome is ClaimOutcome.CLAIMED and claim.token is not None
    return doc_id, claim.token


async def docpipe_path(pools: Pools, chunks: list[Any]) -> float:
    from docpipe.processor.document_rows import complete_document

    doc_id, token = await _new_document(pools)
    started = time.perf_counter()
    refused = await complete_document(
        pools.processor,
        tenant_id=TENANT,
        document_id=doc_id,
        token=token,
        version=None,
        sha256=hashlib.sha256(doc_id.bytes).hexdigest(),
        size_bytes=0,
        page_count=1,
        content_type="text/plain",
        warnings=[],
        chunks=chunks,
    )
    elapsed = time.perf_counter() - started
    assert refused is None, refused
    return elapsed


async def row_by_row(pools: Pools, chunks: list[Any]) -> float:
    """The same transaction's work, one INSERT per chunk."""
    from docpipe.common.db import tenant_transaction
    from docpipe.common.keywords import keyword_text, tsvector_sql

    doc_id, _ = await _new_document(pools)
    sql = (
        "insert into chunks (id, tenant_id, document_id, ordinal, page_start, page_end, text,"
        f" content_sha256, embedding, keywords) values ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        f" {tsvector_sql('$10', '$11')})"
    )
    started = time.perf_counter()
    async with tenant_transaction(pools.processor, TENANT) as conn:
        await conn.execute("delete from chunks where document_id = $1", doc_id)
        for c in chunks:
            words = keyword_text(c.text)
            await conn.execute(
                sql,
                uuid.uuid4(),
                TENANT,
                doc_id,
                c.ordinal,
                c.page_start,
                c.page_end,
                c.text,
                c.content_sha256,
                c.embedding,
                words.latin,
                words.cjk,
            )
        await conn.execute(
            "update documents set status = 'completed', chunk_count = $2, processed_at = now()"
            " where id = $1",
            doc_id,
            len(chunks),
        )
    return time.perf_counter() - started


@dataclass(frozen=True)
class SchemaVariant:
    """The production schema with ``ddl`` applied; ``baseline``: row by row runs too."""

    key: str  # database name suffix and the key in the upkeep table
    label: str
    ddl: tuple[str, ...] = ()
    baseline: bool = False


_DROP_HNSW = "drop index chunks_embedding_hnsw"
_DROP_GIN = "drop index chunks_keywords_gin"
PRODUCTION = SchemaVariant("production", "HNSW + GIN (production schema)", baseline=True)
HNSW_ONLY = SchemaVariant("hnsw_only", "HNSW only (GIN dropped)", (_DROP_GIN,))
GIN_ONLY = SchemaVariant("gin_only", "GIN only (HNSW dropped)", (_DROP_HNSW,))
NO_INDEX = SchemaVariant("no_index", "none (dropped)", (_DROP_HNSW, _DROP_GIN), baseline=True)
NO_TRIGGERS = SchemaVariant(
    "no_index_no_triggers",
    "none, keyword-statistics triggers off",
    (_DROP_HNSW, _DROP_GIN, "alter table chunks disable trigger user"),
)
SCHEMA_VARIANTS = (PRODUCTION, HNSW_ONLY, GIN_ONLY, NO_INDEX, NO_TRIGGERS)


async def measure(
    stack: Stack,
    *,
    dimensions: int,
    count: int,
    runs: int,
    variant: SchemaVariant,
) -> dict[str, Any]:
    import asyncpg

    from docpipe.common.db import _init_connection

    database = f"writes{dimensions}_{variant.key}"
    dsn = await create_database(stack, database=database, dimensions=dimensions)
    if variant.ddl:
        admin = await asyncpg.connect(stack.pg.dsn(database=database))
        for statement in variant.ddl:
            await admin.execute(statement)
        await admin.close()
    pools = Pools(
        upload=await asyncpg.create_pool(
            dsn, user="docpipe_upload", min_size=1, max_size=1, init=_init_connection
        ),
        processor=await asyncpg.create_pool(
            dsn, user="docpipe_processor", min_size=1, max_size=2, init=_init_connection
        ),
    )
    paths = [("docpipe", docpipe_path)]
    if variant.baseline:
        paths.append(("row_by_row", row_by_row))
    times: dict[str, list[float]] = {name: [] for name, _ in paths}
    try:
        await docpipe_path(pools, _chunks(200, dimensions, seed=1))  # warm caches and plans
        for run in range(runs):
            for name, path in paths if run % 2 == 0 else paths[::-1]:
                chunks = _chunks(count, dimensions, seed=100 + 2 * run + (name == "row_by_row"))
                times[name].append(await path(pools, chunks))
    finally:
        await pools.upload.close()
        await pools.processor.close()
    d = statistics.median(times["docpipe"])
    b = statistics.median(times["row_by_row"]) if variant.baseline else None
    return {
        "dimensions": dimensions,
        "variant": variant.key,
        "indexes": variant.label,
        "chunks_per_write": count,
        "runs": runs,
        "docpipe_s": times["docpipe"],
        "row_by_row_s": times.get("row_by_row"),
        "docpipe_chunks_per_s": count / d,
        "docpipe_ms_per_chunk": 1000 * d / count,
        "row_by_row_chunks_per_s": count / b if b else None,
        "speedup": b / d if b else None,
    }


def _index_upkeep(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each part of a docpipe-path write: the difference between two schema variants."""
    rows = []
    for dims in sorted({r["dimensions"] for r in results}):
        ms = {r["variant"]: r["docpipe_ms_per_chunk"] for r in results if r["dimensions"] == dims}
        none = ms[NO_INDEX.key]
        rows.append(
            {
                "dimensions": dims,
                "production ms/chunk": ms[PRODUCTION.key],
                "HNSW adds": ms[HNSW_ONLY.key] - none,
                "GIN adds": ms[GIN_ONLY.key] - none,
                "both add": ms[PRODUCTION.key] - none,
                "keyword-statistics triggers add": none - ms[NO_TRIGGERS.key],
                "rest (no index, no trigger)": ms[NO_TRIGGERS.key],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bytecode = use_compiled_bytecode()
    warm_bytecode("docpipe.processor.document_rows")
    count = 300 if args.quick else args.chunks
    with embedded_stack("writes", aws=False) as stack:
        results = [
            asyncio.run(
                measure(stack, dimensions=dims, count=count, runs=args.runs, variant=variant)
            )
            for variant in SCHEMA_VARIANTS
            for dims in DIMENSIONS
        ]
    print_table(
        f"Chunk writes with vectors, one document of {count:,} chunks per write (median of "
        f"{args.runs} runs)",
        [
            {
                "dimensions": r["dimensions"],
                "indexes": r["indexes"],
                "docpipe chunks/s (INSERT…SELECT FROM unnest)": r["docpipe_chunks_per_s"],
                "docpipe ms/chunk": r["docpipe_ms_per_chunk"],
                "row-by-row chunks/s": r["row_by_row_chunks_per_s"] or "-",
                "speed-up": f"{r['speedup']:.1f}x" if r["speedup"] else "-",
                "target": f">= {TARGET_SPEEDUP:g}x" if r["speedup"] else "-",
            }
            for r in results
        ],
    )
    upkeep = _index_upkeep(results)
    print_table("Where a chunk's write time goes on the docpipe path (ms per chunk)", upkeep)
    targets = {
        f"speedup_{r['dimensions']}d" + ("" if r["variant"] == PRODUCTION.key else "_no_indexes"): {
            "target": TARGET_SPEEDUP,
            "measured": r["speedup"],
            "met": r["speedup"] >= TARGET_SPEEDUP,
        }
        for r in results
        if r["speedup"]
    }
    print("\nTargets:", json.dumps(targets, indent=2))
    facts = conditions(quick=args.quick, bytecode=bytecode)
    print_conditions(facts)
    write_results(
        "db_writes",
        {"results": results, "index_upkeep": upkeep, "targets": targets, "conditions": facts},
    )


if __name__ == "__main__":
    main()
