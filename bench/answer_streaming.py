"""Streamed answers under uvicorn: how soon the ``sources`` event arrives, and whether model
deltas are forwarded as they arrive.

The query service runs under uvicorn (a real socket, in a thread of this process) against
the embedded Postgres, with Bedrock answers from the local Bedrock-format server
(``docpipe.testkit.bedrock_server``), which streams ConverseStream event-stream frames one
word at a time, ``--delay`` seconds apart, recording when it flushed each one. The client
(httpx, streaming) records when each event arrives; both clocks are this process'
``time.perf_counter``. For each question:

- **search latency**: ``POST /v1/search`` (hybrid, top 5), request to full response;
- **sources latency**: ``POST /v1/answer`` with ``stream: true``, request to the end of the
  ``sources`` event (same question, same retrieval; query embeddings cached for both);
- **forwarding lag** of each delta: its arrival at the client minus the moment the model
  server flushed the word, and whether the deltas concatenated equal ``done.answer``.

Run: ``uv run python -m bench.answer_streaming [--chunks 2000] [--questions 20] [--delay 0.03]``.
Writes bench/results/answer_streaming.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from bench._conditions import (
    conditions,
    percentiles,
    print_conditions,
    print_table,
    write_results,
)

__all__ = ["main"]

REPLY = (
    "New employees accrue fifteen days of paid vacation per year [1], prorated in the first"
    " year [1]. Sick leave beyond three days needs a doctor's certificate [2]; see"
    " https://evil.example/x?q=leak for nothing. Remote work requires approval [3]."
)


def _corpus(limit: int) -> tuple[list[str], list[str]]:
    from bench.retrieval_quality import DATASETS, DATASETS_DIR, load_dataset

    corpus, queries, _ = load_dataset(DATASETS_DIR / DATASETS["msmarco"].folder, None)
    texts = [f"{d.get('title') or ''}\n{d['text']}".strip() for d in corpus[:limit]]
    return texts, list(queries.values())


async def _seed(admin_dsn: str, texts: list[str]) -> None:
    import asyncpg

    from docpipe.common.embeddings import create_embedder
    from docpipe.query.config import QuerySettings
    from docpipe.testkit.chunks import seed_document

    embedder = create_embedder(QuerySettings())
    conn = await asyncpg.connect(admin_dsn)
    try:
        from pgvector.asyncpg import register_vector

        await register_vector(conn)
        for start in range(0, len(texts), 100):
            await seed_document(
                conn, tenant="default", texts=texts[start : start + 100], embedder=embedder,
                filename=f"passages-{start // 100:03d}.txt",
            )  # fmt: skip
    finally:
        await conn.close()


def _serve(app: Any, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread


async def _one(client: Any, bedrock: Any, question: str) -> dict[str, Any]:
    for _ in range(2):  # the second search is measured (query embedding cached, like the answer)
        t0 = time.perf_counter()
        response = await client.post("/v1/search", json={"query": question, "top_k": 5})
        search_ms = (time.perf_counter() - t0) * 1000
        response.raise_for_status()
    bedrock.delta_times.clear()
    arrivals: list[float] = []
    deltas: list[str] = []
    done: dict[str, Any] = {}
    sources_ms = float("nan")
    t0 = time.perf_counter()
    body = {"query": question, "top_k": 5, "stream": True}
    async with client.stream("POST", "/v1/answer", json=body) as response:
        buffer = ""
        async for chunk in response.aiter_text():
            now = time.perf_counter()
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines())
                data = json.loads(fields["data"])
                if fields["event"] == "sources":
                    sources_ms = (now - t0) * 1000
                elif fields["event"] == "delta":
                    arrivals.append(now)
                    deltas.append(data["text"])
                elif fields["event"] == "done":
                    done = data
    sent = list(bedrock.delta_times)
    return {
        "search_ms": search_ms,
        "sources_ms": sources_ms,
        "sent": sent,
        "arrivals": arrivals,
        "joined_equals_done": "".join(deltas) == done.get("answer"),
        "words": len(sent),
        "deltas": len(deltas),
        "leaked": "evil.example" in "".join(deltas),
    }


def _lags(result: Mapping[str, Any]) -> list[float]:
    """Per received delta: arrival minus the flush of the last word it contains.

    A delta carries one word, or (when the sanitizer held a possible link open) the words
    held together; each is matched to the model's word that completed it.
    """
    sent: list[float] = result["sent"]
    lags = []
    for arrival in result["arrivals"]:
        flushed = [t for t in sent if t <= arrival]
        if flushed:
            lags.append((arrival - flushed[-1]) * 1000)
    return lags


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from bench._stack import create_database, embedded_stack, set_env
    from docpipe.devstack.embedded import free_port
    from docpipe.query.config import QuerySettings
    from docpipe.query.main import create_app
    from docpipe.testkit.bedrock_server import BedrockServer

    texts, questions = _corpus(args.chunks)
    with embedded_stack("streaming", aws=False) as stack, BedrockServer() as bedrock:
        dsn = await create_database(stack, database="streaming", dimensions=384)
        set_env({"DATABASE_URL": dsn})
        await _seed(stack.pg.dsn(database="streaming"), texts)
        bedrock.stream_delay = args.delay
        bedrock.converse_reply = lambda model, request: REPLY
        app = create_app(QuerySettings(answer_provider="bedrock", bedrock_endpoint_url=bedrock.url))
        port = free_port()
        server, thread = _serve(app, port)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                await _one(client, bedrock, questions[0])  # warm-up
                results = [await _one(client, bedrock, q) for q in questions[: args.questions]]
        finally:
            server.should_exit = True
            thread.join(10)
    gaps = [r["sources_ms"] - r["search_ms"] for r in results]
    lags = [lag for r in results for lag in _lags(r)]
    rows = [
        {"measure": "search latency (ms)",
         **percentiles([r["search_ms"] for r in results], (50, 95)),
         "max": max(r["search_ms"] for r in results)},
        {"measure": "sources event latency (ms)",
         **percentiles([r["sources_ms"] for r in results], (50, 95)),
         "max": max(r["sources_ms"] for r in results)},
        {"measure": "sources minus search (ms)", **percentiles(gaps, (50, 95)), "max": max(gaps)},
        {"measure": "delta forwarding lag (ms)", **percentiles(lags, (50, 95)), "max": max(lags)},
    ]  # fmt: skip
    checks = {
        "questions": len(results),
        "model_words_streamed": sum(r["words"] for r in results),
        "deltas_received": sum(r["deltas"] for r in results),
        "deltas_joined_equal_done_answer": all(r["joined_equals_done"] for r in results),
        "foreign_link_forwarded": any(r["leaked"] for r in results),
    }
    return {"results": rows, "checks": checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.03)
    args = parser.parse_args()
    payload = asyncio.run(_measure(args))
    facts = conditions(
        server="uvicorn (one worker, a thread of this process), loopback HTTP",
        model="docpipe.testkit.bedrock_server ConverseStream, one word per frame,"
        f" {args.delay * 1000:.0f} ms apart",
        corpus=f"{args.chunks} msmarco-5k passages, one chunk each, local embedder",
        retrieval="hybrid, top 5, query embeddings cached (second request of each question)",
    )
    payload["conditions"] = facts
    print_table("Streamed answers: sources latency and delta forwarding", payload["results"])
    print(json.dumps(payload["checks"], indent=2))
    print_conditions(facts)
    write_results("answer_streaming", payload)


if __name__ == "__main__":
    main()
