"""The keyword leg's candidate budget: BM25 top-k within a budget vs exact BM25.

The service's keyword leg (``docpipe.query.keyword.keyword_search``) scores at most
``keyword_candidate_budget`` matching chunks; this compares its top-k (10, and hybrid's
per-leg count) within budgets of 100-1,000 candidates, and the service's own, with exact
BM25 (every match scored): as overlap and as the share of the exact top-k's BM25 score
kept, with the SQL p50.

Data: :mod:`bench._query_data`. Run alone (prints its table; ``make bench-query-latency``
records it with the other query benchmarks):

    uv run python -m bench.keyword_budget [--quick] [--sizes 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from bench._conditions import print_table
from bench._query_data import TENANT, QueryData, run_alone

__all__ = ["KEYWORD_BUDGETS", "keyword_budget_quality", "measure", "print_keyword_budget"]

# BM25 candidate budgets compared with exact BM25 (plus the service's default)
KEYWORD_BUDGETS = (100, 250, 500, 1000)
UNBOUNDED_BUDGET = 10**9  # more than any tenant's matches: every matching chunk is scored


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


async def measure(data: QueryData, size: int, args: argparse.Namespace) -> dict[str, Any]:
    from docpipe.query.config import QuerySettings

    t = time.perf_counter()
    settings = QuerySettings(database_url=data.dsn)
    rows = await keyword_budget_quality(
        data.dsn,
        data.queries,
        budgets=sorted({*KEYWORD_BUDGETS, settings.keyword_candidate_budget}),
        limits=(args.top_k, settings.candidates_per_leg),
        count=args.recall_queries,
    )
    print(f"  keyword budget vs exact BM25: {time.perf_counter() - t:.0f} s", flush=True)
    return {"keyword_budget": rows}


def print_keyword_budget(results: dict[str, Any]) -> None:
    print_table(
        "Keyword leg: BM25 within a candidate budget vs exact BM25 (every match scored)",
        [{"chunks": s["chunks"], **r} for s in results["sizes"] for r in s["keyword_budget"]],
    )


def main() -> None:
    results, _ = run_alone(__doc__.splitlines()[0], measure)
    print_keyword_budget(results)


if __name__ == "__main__":
    main()
