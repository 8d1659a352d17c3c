"""Embedding-call efficiency against the local Bedrock-format server (the sanctioned stand-in).

Documents go in through the upload API (in-process) -> moto S3 -> SQS -> the processor's
Lambda handler in a worker process (``bench._worker``), with ``EMBEDDING_PROVIDER=bedrock``
pointed at ``docpipe.testkit.bedrock_server`` running in this process (simulated latency,
injected throttling, a requests-per-minute quota). Measured:

1. InvokeModel calls per 1,000 chunks for Cohere Embed v4 (96 texts per call) and Titan
   Text v2 (one text per call, run concurrently up to ``EMBEDDING_MAX_CONCURRENCY``), with
   throttling injected; then the same content reprocessed (content-hash cache: 0 calls).
2. Time to embed 10,000 chunks (Cohere v4) at 100 ms per call under an RPM quota, versus a
   naive sequential one-call-per-chunk baseline measured in the same run (on a sample,
   extrapolated linearly — it is sequential — unless ``--full-baseline``).

    uv run python -m bench.embedding_efficiency [--quick] [--full-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from bench._conditions import conditions, print_conditions, print_table, write_results
from bench._corpus import chunk_texts
from bench._stack import (
    Stack,
    create_database,
    embedded_stack,
    use_compiled_bytecode,
    warm_bytecode,
)
from bench._worker import finish_worker, start_worker

__all__ = ["main"]

COHERE_V4 = "cohere.embed-v4:0"
TITAN_V2 = "amazon.titan-embed-text-v2:0"
DIMENSIONS = 1024
TARGET_COHERE_CALLS_PER_1000 = 11


def _text_with_chunks(chunks: int, *, seed: int) -> str:
    """Distinct paragraphs, as many as make exactly ``chunks`` chunks (or just under)."""
    from docpipe.processor.chunking import chunk_pages
    from docpipe.processor.extraction import PageText

    paragraphs = [
        f"Clause {n}. {text}"
        for n, text in enumerate(chunk_texts(chunks, seed=seed, low=800, high=1100))
    ]

    def count(k: int) -> int:
        return len(chunk_pages([PageText(1, "\n\n".join(paragraphs[:k]))]))

    low, high = 1, len(paragraphs)  # the chunk count never falls as paragraphs are added
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if count(mid) <= chunks else (low, mid - 1)
    return "\n\n".join(paragraphs[:low])


def _processor_env(server_url: str, model_id: str, concurrency: int) -> dict[str, str]:
    return {
        "EMBEDDING_PROVIDER": "bedrock",
        "EMBEDDING_MODEL_ID": model_id,
        "EMBEDDING_DIMENSIONS": str(DIMENSIONS),
        "EMBEDDING_MAX_CONCURRENCY": str(concurrency),
        "BEDROCK_ENDPOINT_URL": server_url,
    }


async def _upload(client: Any, name: str, text: str) -> str:
    response = await client.post(
        "/v1/documents", files=[("file", (name, text.encode(), "text/plain"))], timeout=300
    )
    response.raise_for_status()
    doc_id: str = response.json()["documents"][0]["id"]
    return doc_id


async def _processed(stack: Stack, name: str, env: dict[str, str], send: Any) -> dict[str, Any]:
    """Start a processor worker process, ``await send()``, and return the document's summary.

    The processor runs in its own process, so the Bedrock stand-in (threads in this
    process) never competes with it for a GIL.
    """
    proc, out = await asyncio.to_thread(start_worker, stack.root, name, expect=1, env=env)
    await send()
    report = await asyncio.to_thread(finish_worker, proc, out)
    finished = [s for s in report["summaries"] if s["status"] in ("completed", "failed")]
    summary = finished[-1] if finished else {"status": "missing", "all": report["summaries"]}
    if summary["status"] != "completed":
        raise RuntimeError(f"{name}: {summary}")
    summary_typed: dict[str, Any] = summary
    return summary_typed


async def calls_per_thousand(
    stack: Stack,
    client: Any,
    server: Any,
    *,
    model_id: str,
    chunks: int,
    latency: float,
    throttles: int,
    concurrency: int,
) -> dict[str, Any]:
    """One document of about ``chunks`` chunks, then the same document reprocessed."""
    env = _processor_env(server.url, model_id, concurrency)
    server.reset()
    server.latency = latency
    server.fail_next(throttles)
    text = _text_with_chunks(chunks, seed=len(model_id))
    ids: list[str] = []

    async def upload() -> None:
        ids.append(await _upload(client, f"{model_id}-{chunks}.txt", text))

    first = await _processed(stack, f"{model_id}-first", env, upload)
    ok = server.calls(model_id, ok=True)
    throttled = server.calls(model_id, ok=False)
    peak = server.max_in_flight(model_id)

    async def reprocess() -> None:
        response = await client.post(f"/v1/documents/{ids[0]}/reprocess")
        response.raise_for_status()

    again = await _processed(stack, f"{model_id}-again", env, reprocess)
    return {
        "model": model_id,
        "chunks": first["chunks"],
        "successful_calls": ok,
        "calls_per_1000_chunks": ok * 1000 / first["chunks"],
        "throttled_responses": throttled,
        "max_in_flight": peak,
        "configured_concurrency": concurrency,
        "simulated_latency_ms": latency * 1000,
        "embed_stage_s": first["timings_ms"]["embed"] / 1000,
        "document_s": first["timings_ms"]["total"] / 1000,
        "reingest_calls": server.calls(model_id, ok=True) - ok,
        "reingest_embedding_calls_logged": again["embedding_calls"],
        "reingest_cache_hits": again["cache_hits"],
    }


async def _naive_sequential(server_url: str, texts: list[str]) -> tuple[float, int]:
    """The baseline: one InvokeModel per chunk, one after another (same client, same retries)."""
    from docpipe.common.bedrock_runtime import BedrockRuntime, RetryPolicy, call_with_backoff

    runtime = BedrockRuntime(region="ap-northeast-1", endpoint_url=server_url)
    client = await runtime.client()
    policy = RetryPolicy()
    throttled = 0

    def count(is_throttle: bool, _: bool) -> None:
        nonlocal throttled
        throttled += is_throttle

    started = time.perf_counter()
    for text in texts:
        body = json.dumps(
            {
                "texts": [text],
                "input_type": "search_document",
                "embedding_types": ["float"],
                "output_dimension": DIMENSIONS,
            }
        )

        async def call(body: str = body) -> bytes:
            response = await client.invoke_model(
                modelId=COHERE_V4, body=body, contentType="application/json"
            )
            raw: bytes = await response["body"].read()
            return raw

        await call_with_backoff(call, policy=policy, on_error=count)
    elapsed = time.perf_counter() - started
    await runtime.aclose()
    return elapsed, throttled


async def _drop_vector_index(stack: Stack) -> None:
    """Writing 10,000 1024-d chunks into HNSW takes minutes here and is not what is measured
    (bench.db_writes is): this bench database drops the index before the 10k run."""
    import asyncpg

    conn = await asyncpg.connect(stack.pg.admin_dsn)
    try:
        await conn.execute("drop index if exists chunks_embedding_hnsw")
    finally:
        await conn.close()


async def ten_thousand(
    stack: Stack,
    client: Any,
    server: Any,
    *,
    chunks: int,
    rpm: int,
    latency: float,
    baseline_sample: int,
    concurrency: int,
) -> dict[str, Any]:
    env = _processor_env(server.url, COHERE_V4, concurrency)
    await _drop_vector_index(stack)
    server.reset()
    server.latency = latency
    server.set_quota(rpm)
    text = _text_with_chunks(chunks, seed=99)

    async def upload() -> None:
        await _upload(client, "ten-thousand.txt", text)

    summary = await _processed(stack, "ten-thousand", env, upload)
    product = {
        "chunks": summary["chunks"],
        "successful_calls": server.calls(COHERE_V4, ok=True),
        "throttled_responses": server.calls(COHERE_V4, ok=False),
        "embed_stage_s": summary["timings_ms"]["embed"] / 1000,
        "document_s": summary["timings_ms"]["total"] / 1000,
    }
    from docpipe.processor.chunking import chunk_pages
    from docpipe.processor.extraction import PageText

    texts = [c.text for c in chunk_pages([PageText(1, text)])]
    server.reset()
    server.latency = latency
    server.set_quota(rpm)
    sample = texts[: min(baseline_sample, len(texts))]
    elapsed, throttled = await _naive_sequential(server.url, sample)
    baseline = {
        "chunks_measured": len(sample),
        "measured_s": elapsed,
        "throttled_responses": throttled,
        "calls": len(sample),
        "estimated_s_for_all": elapsed * len(texts) / len(sample),
        "extrapolated": len(sample) < len(texts),
    }
    return {
        "rpm_quota": rpm,
        "simulated_latency_ms": latency * 1000,
        "configured_concurrency": concurrency,
        "product": product,
        "naive_sequential": baseline,
        "speedup_embed_stage": baseline["estimated_s_for_all"] / product["embed_stage_s"],
    }


async def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from docpipe.common.db import close_pool
    from docpipe.common.runtime import close_loop_resources
    from docpipe.testkit.bedrock_server import BedrockServer
    from docpipe.upload.config import UploadSettings
    from docpipe.upload.main import create_app

    settings = UploadSettings(max_api_upload_bytes=256 * 1024 * 1024)  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=create_app(settings))
    per_k = 200 if args.quick else 1000
    with BedrockServer() as server:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://upload", timeout=300
        ) as client:
            rows = [
                await calls_per_thousand(
                    stack,
                    client,
                    server,
                    model_id=model,
                    chunks=per_k,
                    latency=0.05,
                    throttles=10,
                    concurrency=8,
                )
                for model in (COHERE_V4, TITAN_V2)
            ]
            big = await ten_thousand(
                stack,
                client,
                server,
                chunks=1000 if args.quick else 10_000,
                rpm=args.rpm,
                latency=0.1,
                baseline_sample=100 if args.quick else (10**9 if args.full_baseline else 1000),
                concurrency=4,
            )
    await close_pool()
    await close_loop_resources()
    return {"calls_per_1000": rows, "ten_thousand": big}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--full-baseline",
        action="store_true",
        help="run the naive baseline over all 10,000 chunks (~17 min)",
    )
    parser.add_argument("--rpm", type=int, default=600, help="simulated requests-per-minute quota")
    args = parser.parse_args()
    bytecode = use_compiled_bytecode()
    warm_bytecode("docpipe.processor.handler", "docpipe.upload.main", "aioboto3")
    with embedded_stack("embed") as stack:
        os.environ["DATABASE_URL"] = asyncio.run(
            create_database(stack, database="docpipe", dimensions=DIMENSIONS)
        )
        results = asyncio.run(run(stack, args))
    rows = results["calls_per_1000"]
    print_table(
        "Bedrock InvokeModel calls per 1,000 chunks"
        " (50 ms simulated latency, 10 throttles injected)",
        [
            {
                "model": r["model"],
                "chunks": r["chunks"],
                "calls": r["successful_calls"],
                "calls / 1,000 chunks": r["calls_per_1000_chunks"],
                "throttled (retried)": r["throttled_responses"],
                "max in flight / configured": (
                    f"{r['max_in_flight']} / {r['configured_concurrency']}"
                ),
                "embed stage s": r["embed_stage_s"],
                "re-ingest calls": r["reingest_calls"],
                "re-ingest cache hits": r["reingest_cache_hits"],
            }
            for r in rows
        ],
    )
    big = results["ten_thousand"]
    p, b = big["product"], big["naive_sequential"]
    print_table(
        f"Embedding {p['chunks']:,} chunks, Cohere v4, {big['simulated_latency_ms']:.0f} ms/call,"
        f" {big['rpm_quota']} RPM quota",
        [
            {
                "path": "docpipe processor (96/call, concurrency "
                f"{big['configured_concurrency']}, backoff)",
                "calls": p["successful_calls"],
                "throttled": p["throttled_responses"],
                "time s": p["embed_stage_s"],
                "note": "embed stage incl. cache reads/writes",
            },
            {
                "path": "naive: 1 chunk/call, sequential",
                "calls": p["chunks"],
                "throttled": b["throttled_responses"],
                "time s": b["estimated_s_for_all"],
                "note": (
                    f"measured {b['measured_s']:.1f} s on {b['chunks_measured']:,} chunks,"
                    " extrapolated linearly"
                )
                if b["extrapolated"]
                else "measured",
            },
        ],
    )
    print(f"\nspeed-up: {big['speedup_embed_stage']:.0f}x")
    cohere = rows[0]
    targets = {
        "cohere_calls_per_1000": {
            "target": f"<= {TARGET_COHERE_CALLS_PER_1000}",
            "measured": cohere["calls_per_1000_chunks"],
            "met": cohere["calls_per_1000_chunks"] <= TARGET_COHERE_CALLS_PER_1000,
        },
        "titan_parallel": {
            "target": "1 call per chunk, max in flight = configured concurrency",
            "measured": f"{rows[1]['calls_per_1000_chunks']:.0f} calls/1,000, "
            f"{rows[1]['max_in_flight']} in flight",
            "met": rows[1]["max_in_flight"] == rows[1]["configured_concurrency"],
        },
        "reingest_zero_calls": {
            "target": 0,
            "measured": [r["reingest_calls"] for r in rows],
            "met": all(r["reingest_calls"] == 0 for r in rows),
        },
    }
    print("\nTargets:", json.dumps(targets, indent=2))
    facts = conditions(
        quick=args.quick,
        bedrock="docpipe.testkit.bedrock_server (local, Bedrock wire format)",
        bytecode=bytecode,
    )
    print_conditions(facts)
    write_results("embedding_efficiency", {**results, "targets": targets, "conditions": facts})


if __name__ == "__main__":
    main()
