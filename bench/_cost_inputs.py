"""Inputs of the cost model, in three kinds kept apart:

- **measured** by the benchmarks (``bench/results/*.json``: ingestion stage times,
  chunk counts, write cost per chunk, search latency, cold start);
- **measured here** by running docpipe's own code on sample text: the real chunker
  (characters embedded per page and per chunk) and the real answer prompt builder
  (characters sent to the model for ``top_k`` chunks), in English (MS MARCO sentences)
  and Traditional Chinese (DRCD paragraphs and questions);
- **assumed**: everything neither can give (token ratios, Bedrock latencies, workload),
  each a named field of :class:`Assumptions` with the reason in a comment.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._conditions import RESULTS_DIR
from bench._corpus import MSMARCO_DIR

__all__ = [
    "Assumptions",
    "IngestRun",
    "QueryMeasure",
    "TextProfile",
    "cold_start_s",
    "ingestion_runs",
    "input_conditions",
    "query_measure",
    "text_profiles",
    "write_ms_per_chunk",
]

#: Where msmarco-5k and drcd-dev live: beside the checkout, as for bench._corpus
#: (``BENCH_DATASETS`` overrides it, e.g. from a worktree).
DATASETS = Path(os.environ.get("BENCH_DATASETS") or MSMARCO_DIR.parent)
PRODUCTION_SCHEMA = "HNSW + GIN (production schema)"


@dataclass(frozen=True)
class Assumptions:
    """What no benchmark measures. Change a value here and re-run the command."""

    # Tokens. Neither tokenizer is public; these are the usual planning ratios.
    en_chars_per_token: float = 4.0
    zh_chars_per_token: float = 1.0  # about one token per Han character
    # A Traditional Chinese HR page (regulations, forms): ~800 characters.
    zh_chars_per_page: int = 800
    # Bedrock cannot be reached here: latencies are assumptions (Lambda waits, and pays).
    embed_call_s: float = 0.5  # one Cohere call of up to 96 texts
    query_embed_call_s: float = 0.15  # one Cohere call of one short query
    answer_first_token_s: float = 0.6  # Nova Pro time to first token
    answer_tokens_per_s: float = 80.0  # Nova Pro output speed
    # A grounded answer with citations: ~1,200 English characters (~300 tokens), or
    # ~400 Chinese characters (the same content); the model may write up to max_tokens.
    en_answer_chars: int = 1200
    zh_answer_chars: int = 400
    # Requests around one document: the upload, then status polls until it completes.
    status_polls_per_document: int = 2
    # Share of invocations that start a new execution environment (init is billed).
    http_cold_start_share: float = 0.1
    processor_cold_start_share: float = 0.5
    # CloudWatch Logs bytes: access log line + Lambda platform lines + app lines.
    log_bytes_per_request: int = 1500
    log_bytes_per_document: int = 3000  # processor summary + platform lines
    # Aurora bytes per chunk: 1024-d vector (4 KB) in the table, again in HNSW, again
    # in embedding_cache, plus text, tsvector and GIN entries.
    aurora_bytes_per_chunk: int = 17_000
    aurora_write_bytes_per_io: int = 4096  # Aurora counts write I/O in 4 KB units
    # A write is CPU-bound: assume the instance runs at max ACU while writing, and at
    # its floor while answering (a hybrid search is ~15 ms of SQL).
    aurora_awake_floor_acu: float = 0.5
    # One float of a Bedrock embedding as JSON text (~10.5 characters each).
    bytes_per_embedding_float: float = 10.5
    # ECR: images kept per repository (the lifecycle keeps up to 50) and their size.
    ecr_images_per_repository: int = 10
    ecr_image_gb: float = 0.25
    # An idle SQS event source mapping long-polls (20 s waits) with this many pollers.
    idle_sqs_pollers: int = 5
    sqs_long_poll_s: int = 20
    # Route-level metrics (detailed_metrics_enabled): 6 metrics per route with traffic.
    metrics_per_route: int = 6
    routes_in_use: int = 4
    # Month shape of an HR chatbot: questions come in office hours on workdays.
    workdays_per_month: int = 22
    office_hours_per_day: int = 10
    stored_months: int = 12  # the document set held = a year of ingestion


@dataclass(frozen=True)
class IngestRun:
    """One ``bench.ingestion`` scenario, as measured (``local`` embedder, 384-d)."""

    name: str
    documents: int
    pages: int
    chunks: int
    bytes: int
    download_s: float
    extract_s: float
    chunk_s: float
    write_s: float
    upload_s: float
    postgres_cpu_s: float


@dataclass(frozen=True)
class QueryMeasure:
    """``bench.query_latency``: hybrid search at one corpus size (embedding cached)."""

    chunks: int
    server_ms: float
    sql_ms: float


@dataclass(frozen=True)
class TextProfile:
    """The real chunker and prompt builder run on sample text of one language."""

    language: str
    source: str
    chars_per_page: float
    chunks_per_page: float
    chunk_chars: float
    """Mean characters of one chunk (overlap included): what one embedding input holds."""
    utf8_bytes_per_char: float
    question_chars: float
    prompt_chars: float
    """System prompt + user message for ``top_k`` chunks and a question."""
    chars_per_token: float


def _load(name: str, results_dir: Path) -> Any:
    path = results_dir / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make bench-{name.replace('_', '-')}` first")
    return json.loads(path.read_text())


def ingestion_runs(results_dir: Path = RESULTS_DIR) -> dict[str, IngestRun]:
    runs: dict[str, IngestRun] = {}
    for s in _load("ingestion", results_dir)["scenarios"]:
        stages = s["stage_s"]
        runs[s["scenario"]] = IngestRun(
            name=s["scenario"],
            documents=int(s["documents"]),
            pages=int(s["pages"]),
            chunks=int(s["chunks"]),
            bytes=int(s["bytes"]),
            download_s=float(stages["download"]),
            extract_s=float(stages["extract"]),
            chunk_s=float(stages["chunk"]),
            write_s=float(stages["write"]),
            upload_s=float(s["upload_s"]),
            postgres_cpu_s=float(s["postgres_cpu_s"]),
        )
    return runs


def write_ms_per_chunk(results_dir: Path = RESULTS_DIR) -> dict[int, float]:
    """The docpipe write path's ms per chunk with the production indexes, by dimensions."""
    rows = _load("db_writes", results_dir)["results"]
    return {
        int(r["dimensions"]): float(r["docpipe_ms_per_chunk"])
        for r in rows
        if r["indexes"] == PRODUCTION_SCHEMA
    }


def query_measure(results_dir: Path = RESULTS_DIR, *, chunks: int = 10_000) -> QueryMeasure:
    for size in _load("query_latency", results_dir)["sizes"]:
        if int(size["chunks"]) == chunks:
            hybrid = size["modes"]["hybrid"]
            return QueryMeasure(
                chunks=chunks,
                server_ms=float(hybrid["service"]["server_took_ms"]),
                sql_ms=float(hybrid["sql"]["p50_ms"]),
            )
    raise SystemExit(f"query_latency.json has no {chunks}-chunk run")


def input_conditions(results_dir: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """When, where and at which commit each benchmark this model reads was run."""
    keys = ("date_utc", "git_commit", "cpu_model", "load_average")
    return {
        name: {k: _load(name, results_dir)["conditions"].get(k) for k in keys}
        for name in ("ingestion", "db_writes", "query_latency", "cold_start")
    }


def cold_start_s(results_dir: Path = RESULTS_DIR) -> dict[str, float]:
    """Per service: handler import + first invocation, seconds (what an init bills)."""
    data = _load("cold_start", results_dir)
    imports = {r["module"].split(".")[1]: float(r["import_s_median"]) for r in data["imports"]}
    return {
        row["service"]: imports[row["service"]] + float(row["first_s"])
        for row in data["first_invocation"]
    }


# --- sample text, run through docpipe's own chunker and prompt builder --------------


def _jsonl(path: Path, field: str) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [str(json.loads(line)[field]) for line in lines if line.strip()]


_ZH_FALLBACK = (
    "員工請特別休假應於三日前以書面或系統提出申請，經直屬主管核准後始得休假。"
    "病假全年合計未超過三十日者，工資折半發給。"
    "到職滿六個月以上未滿一年者，給予特別休假三日。"
    "加班時數每月不得超過四十六小時，並應依法給付加班費。"
)
_EN_FALLBACK = (
    "Employees must request annual leave at least three days in advance through the "
    "portal. Sick leave of up to thirty days a year is paid at half salary. Overtime "
    "must be approved by a manager before it is worked."
)


def _pages(paragraphs: Sequence[str], *, chars_per_page: int, pages: int) -> list[str]:
    rng = random.Random(11)
    out: list[str] = []
    for _ in range(pages):
        text = ""
        while len(text) < chars_per_page:
            text += paragraphs[rng.randrange(len(paragraphs))] + "\n\n"
        out.append(text[:chars_per_page])
    return out


def _profile(
    *,
    language: str,
    source: str,
    pages: list[str],
    questions: Sequence[str],
    chars_per_token: float,
    top_k: int,
    target_chars: int,
    overlap_chars: int,
) -> TextProfile:
    from docpipe.processor.chunking import chunk_pages
    from docpipe.processor.extraction import PageText
    from docpipe.query.answer.converse import SYSTEM_PROMPT, build_prompt
    from docpipe.query.hits import Hit

    chunks = chunk_pages(
        [PageText(number=n, text=t) for n, t in enumerate(pages, start=1)],
        target_chars=target_chars,
        overlap_chars=overlap_chars,
    )
    texts = [c.text for c in chunks]
    hits = [
        Hit(uuid.uuid4(), uuid.uuid4(), "handbook.pdf", c.page_start, c.page_end, c.text, 1.0)
        for c in chunks[:top_k]
    ]
    prompts = [len(SYSTEM_PROMPT) + len(build_prompt(q, hits)) for q in questions]
    sample = "".join(texts)
    return TextProfile(
        language=language,
        source=source,
        chars_per_page=statistics.fmean(len(p) for p in pages),
        chunks_per_page=len(chunks) / len(pages),
        chunk_chars=statistics.fmean(len(t) for t in texts),
        utf8_bytes_per_char=len(sample.encode()) / len(sample),
        question_chars=statistics.fmean(len(q) for q in questions),
        prompt_chars=statistics.fmean(prompts),
        chars_per_token=chars_per_token,
    )


def text_profiles(
    *, a: Assumptions, en_chars_per_page: int, top_k: int, target_chars: int, overlap_chars: int
) -> dict[str, TextProfile]:
    """English and Traditional Chinese profiles (real chunker, real prompt builder)."""
    msmarco, drcd = DATASETS / "msmarco-5k", DATASETS / "drcd-dev"
    en_text = _jsonl(msmarco / "corpus.jsonl", "text")
    zh_text = _jsonl(drcd / "corpus.jsonl", "text")
    en_questions = _jsonl(msmarco / "queries.jsonl", "text")
    zh_questions = _jsonl(drcd / "queries.jsonl", "text")
    common = {"top_k": top_k, "target_chars": target_chars, "overlap_chars": overlap_chars}
    return {
        "en": _profile(
            language="English",
            source="MS MARCO passages and queries" if en_text else "built-in HR sentences",
            pages=_pages(en_text or [_EN_FALLBACK], chars_per_page=en_chars_per_page, pages=200),
            questions=en_questions or ["How many days of annual leave do new employees get?"],
            chars_per_token=a.en_chars_per_token,
            **common,
        ),
        "zh": _profile(
            language="Traditional Chinese",
            source="DRCD paragraphs and questions" if zh_text else "built-in HR sentences",
            pages=_pages(zh_text or [_ZH_FALLBACK], chars_per_page=a.zh_chars_per_page, pages=200),
            questions=zh_questions or ["新進員工的特休假有幾天？"],
            chars_per_token=a.zh_chars_per_token,
            **common,
        ),
    }
