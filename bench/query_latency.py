"""Query latency at scale: the query benchmarks at 10k and 100k chunks, recorded together.

Loads the chunks once per size (:mod:`bench._query_data`) and runs, at each size:

- :mod:`bench.search_latency`: ``POST /v1/search`` per mode through the service, and the
  service's retriever in-process (the "SQL" columns: the service minus HTTP);
- :mod:`bench.vector_recall`: recall@10 of the service's vector leg against exact search,
  for an ``ef_search`` sweep;
- :mod:`bench.keyword_budget`: the keyword leg's candidate budget against exact BM25;

then the query-embedding cost (apart), the targets, and bench/results/query_latency.json.
``--recall-only`` loads and measures recall without the latency part, and writes
bench/results/vector_recall_<embedder>.json instead (a full run with another embedder
than ``local`` writes query_latency_<embedder>.json; another ``--concurrency`` than 4
adds ``_c<n>``). Each module also runs alone (``python -m bench.vector_recall`` …).

    uv run python -m bench.query_latency [--quick] [--embedder minilm] [--recall-only]
        [--sizes 10000,100000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from bench import keyword_budget, search_latency, vector_recall
from bench._conditions import conditions, print_conditions, print_table, write_results
from bench._corpus import queries
from bench._query_data import DEFAULT_CONCURRENCY, DIMENSIONS, QueryData, measure_sizes, parse_args
from bench._stack import Stack, embedded_stack, use_compiled_bytecode, warm_bytecode
from bench._vectors import EmbeddingSource
from bench.keyword_budget import print_keyword_budget
from bench.search_latency import MODES, print_latency, query_embedding_cost
from bench.vector_recall import EF_SWEEP, recall_report

__all__ = ["main"]

TARGETS = {"hybrid_p95_ms_100k": 50.0, "p50_growth": 2.0, "overhead": 1.5}


async def _measure_size(data: QueryData, size: int, args: argparse.Namespace) -> dict[str, Any]:
    from bench._conditions import _git_commit

    result: dict[str, Any] = {"code_at_start": _git_commit()}
    if not args.recall_only:
        result |= await search_latency.measure(data, size, args)
    result |= await vector_recall.measure(data, size, args)
    if not args.recall_only:
        result |= await keyword_budget.measure(data, size, args)
    return result


async def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    results = await measure_sizes(stack, args, _measure_size)
    if not args.recall_only:
        source = EmbeddingSource(args.embedder, DIMENSIONS)
        qs = queries(args.queries, seed=3)
        results["query_embedding"] = await query_embedding_cost(qs, source)
    return results


def _report(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    print_latency(results, args)
    recall_target = recall_report(results)
    print_keyword_budget(results)
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


def _result_name(args: argparse.Namespace) -> str:
    if args.recall_only:
        return f"vector_recall_{args.embedder}"
    name = "query_latency" if args.embedder == "local" else f"query_latency_{args.embedder}"
    # Another load level is another result, not a replacement for the reference run.
    return name if args.concurrency == DEFAULT_CONCURRENCY else f"{name}_c{args.concurrency}"


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    bytecode = use_compiled_bytecode()
    warm_bytecode("docpipe.query.main", "uvicorn")
    started = time.perf_counter()
    with embedded_stack("query", aws=False) as stack:
        results = asyncio.run(run(stack, args))
    if args.recall_only:
        targets = recall_report(results)
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
