"""Bulk ingestion: a newcomer's documents through the CLI and the local stack, end to end,
and the processor alone, per concurrent execution.

    uv run python -m bench.bulk_ingestion [--quick] [--only newcomer,mixed,requests,processor]
        [--documents 5000] [--workers N] [--record-concurrency N]

- ``newcomer``: ``--documents`` one-page PDFs in a folder, uploaded with ``docpipe
  upload FOLDER --wait`` (the CLI, a subprocess) to ``docpipe up`` (a subprocess with its
  defaults, fresh data folder), timed from the command's start to the last document
  ``completed``. CPU time by component is read from /proc while it runs; the processor's
  stage timings come from its per-document summary lines in the stack's log.
- ``mixed``: the ingestion benchmark's mixed corpus (text, Markdown, PDFs of 2-40
  pages) plus a 20 MB PDF, which the CLI sends through the presigned flow, the same way.
- ``requests``: 50 sequential 10-file ``POST /v1/documents`` of new one-page PDFs to a
  fresh stack whose worker processes them meanwhile: p50 and p95 answer times.
- ``processor``: documents already queued; one worker process (one concurrent
  execution) runs the Lambda handler with RECORD_CONCURRENCY=1 (one record after
  another, the handler's behaviour before issue 15) and with the default; with the
  ``local`` embedder, and with Cohere Embed v4 served by the Bedrock-format test server
  after ``--bedrock-latency`` seconds (a Bedrock call's typical wait).

Prints tables and conditions (load average before and after each scenario) and writes
``bench/results/<--name>.json`` (default ``bulk_ingestion``); docs/benchmarks.md §7 quotes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._conditions import conditions, print_conditions, print_table, write_results
from bench._corpus import pdf_bytes
from bench._process_cpu import CpuSampler
from bench._stack import (
    create_database,
    embedded_stack,
    private_dir,
    use_compiled_bytecode,
    warm_bytecode,
)
from bench._worker import finish_worker, start_worker
from bench.ingestion import corpus

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = Path(tempfile.gettempdir()) / "dpb-bulk-corpus"
STAGES = ("download", "extract_wait", "extract", "chunk", "embed", "write", "total")
TARGET_WALL_S = 300.0


# ------------------------------------------------------------------------------ corpus


def one_page_pdfs(count: int) -> Path:
    """``count`` distinct one-page PDFs (~2,400 characters each), cached between runs."""
    folder = CORPUS_DIR / f"one-page-{count}"
    if folder.is_dir() and len(list(folder.glob("*.pdf"))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"doc-{i:05d}.pdf").write_bytes(pdf_bytes(1, seed=100_000 + i))
    return folder


def large_pdf(megabytes: float, *, seed: int = 7) -> bytes:
    """One page of text plus an incompressible image: ``megabytes`` MiB in all."""
    import pymupdf

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    pixels = random.Random(seed).randbytes(side * side * 3)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Annex: scanned floor plans of every office, with a text layer.")
    image = pymupdf.Pixmap(pymupdf.csRGB, side, side, pixels, False)
    page.insert_image(pymupdf.Rect(72, 100, 540, 700), pixmap=image)
    data: bytes = doc.tobytes()
    doc.close()
    return data


def mixed_corpus(count: int) -> Path:
    folder = CORPUS_DIR / f"mixed-{count}"
    if folder.is_dir() and len(list(folder.iterdir())) == count + 1:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name, data, _ in corpus(count, seed=23):
        (folder / name).write_bytes(data)
    (folder / "annex-20mb.pdf").write_bytes(large_pdf(20))
    return folder


# ------------------------------------------------------------------------ local stack


def _free_port() -> int:
    from docpipe.devstack.embedded import free_port

    return free_port()


class LocalStack:
    """``docpipe up`` as a subprocess on a fresh data folder and free ports."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.log = root / "stack.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "AWS_"))},
            "LOCAL_DATA_DIR": str(root / "data"),
            "UPLOAD_PORT": str(_free_port()),
            "QUERY_PORT": str(_free_port()),
            "MOTO_PORT": str(_free_port()),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> LocalStack:
        from docpipe.devstack.stack import read_stack_info

        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "docpipe.devstack.cli", "up"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 180
        while (info := read_stack_info(Path(self.env["LOCAL_DATA_DIR"]))) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{self.tail()}")
            time.sleep(0.2)
        self.info = info
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def summaries(self) -> list[dict[str, Any]]:
        """The processor's per-document summary lines, from the stack's log."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if '"document processed"' not in line:
                continue
            try:
                found.append(json.loads(line.split(" | ", 1)[1])["summary"])
            except (IndexError, ValueError, KeyError):
                continue
        return found


def _postmaster_pid(info: dict[str, Any]) -> int:
    return int(info["postgres_pid"])


async def _statuses(database_url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "select status, count(*) n, coalesce(sum(page_count), 0) pages from documents"
            " group by status"
        )
    finally:
        await conn.close()
    counts = {r["status"]: int(r["n"]) for r in rows}
    counts["pages"] = sum(int(r["pages"]) for r in rows if r["status"] == "completed")
    return counts


def _stage_seconds(summaries: list[dict[str, Any]]) -> dict[str, float]:
    done = [s for s in summaries if s["status"] == "completed"]
    return {k: sum(s["timings_ms"].get(k, 0.0) for s in done) / 1000 for k in STAGES}


def through_the_cli(name: str, folder: Path, *, env: dict[str, str]) -> dict[str, Any]:
    """``docpipe upload FOLDER --wait`` against a fresh ``docpipe up``; figures."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    with private_dir(f"bulk-{name}") as root, LocalStack(root, env) as stack:
        load_before = os.getloadavg()
        sampler = CpuSampler([stack.proc.pid, _postmaster_pid(stack.info)])  # type: ignore[union-attr]
        sampler.start()
        cli_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "docpipe.devstack.cli", "upload", str(folder), "--wait"],
            env={**stack.env, "UPLOAD_URL": stack.info["upload_url"]},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=3600,
        )
        wall = time.monotonic() - started
        cli_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sampler.stop()
        load_after = os.getloadavg()
        cpu["docpipe upload (the CLI)"] = (cli_after.ru_utime + cli_after.ru_stime) - (
            cli_before.ru_utime + cli_before.ru_stime
        )
        statuses = asyncio.run(_statuses(stack.info["database_url"]))
        summaries = stack.summaries()
    if done.returncode not in (0, 1):
        raise RuntimeError(f"docpipe upload failed ({done.returncode}):\n{done.stderr[-3000:]}")
    completed = statuses.get("completed", 0)
    attempts = Counter(s["status"] for s in summaries)
    return {
        "scenario": name,
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "completed": completed,
        "failed": statuses.get("failed", 0),
        "pages": statuses["pages"],
        "wall_s": wall,
        "documents_per_s": completed / wall,
        "pages_per_s": statuses["pages"] / wall,
        "met_5_minutes": wall <= TARGET_WALL_S,
        "cpu_s_by_component": dict(sorted(cpu.items(), key=lambda kv: -kv[1])),
        "cpu_s_total": sum(cpu.values()),
        "stage_s_sum": _stage_seconds(summaries),
        "stage_ms_median": {
            k: statistics.median(
                [s["timings_ms"].get(k, 0.0) for s in summaries if s["status"] == "completed"]
                or [0.0]
            )
            for k in STAGES
        },
        "attempt_outcomes": dict(attempts),
        "cli_stdout": done.stdout,
        "cli_stderr_tail": done.stderr[-2000:],
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "stack_env": env,
    }


def ten_file_requests(folder: Path, *, requests: int, env: dict[str, str]) -> dict[str, Any]:
    """Sequential 10-file ``POST /v1/documents`` of new one-page PDFs to a fresh stack,
    whose worker processes them meanwhile (as the issue measured: 1.4 s p50, 3.4 s p95)."""
    import httpx

    from bench._conditions import percentiles

    files = sorted(folder.glob("*.pdf"))[: requests * 10]
    times = []
    with private_dir("bulk-requests") as root, LocalStack(root, env) as stack:
        load_before = os.getloadavg()
        with httpx.Client(base_url=stack.info["upload_url"], timeout=60) as http:
            for start in range(0, len(files), 10):
                parts = [
                    ("file", (p.name, p.read_bytes(), "application/pdf"))
                    for p in files[start : start + 10]
                ]
                t = time.perf_counter()
                response = http.post("/v1/documents", files=parts)
                times.append(time.perf_counter() - t)
                response.raise_for_status()
        load_after = os.getloadavg()
    return {
        "requests": len(times),
        "files_per_request": 10,
        "seconds": percentiles(times, (50, 95)),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }


# ---------------------------------------------------------------------- processor alone


async def _queue_documents(count: int, *, seed: int) -> int:
    """Upload ``count`` one-page PDFs through the upload app (in process), 10 a request."""
    import httpx

    from docpipe.common.db import close_pool
    from docpipe.common.runtime import close_loop_resources
    from docpipe.upload.config import UploadSettings
    from docpipe.upload.main import create_app

    # The queue is filled as fast as the app answers: no uploads-per-minute quota (as on
    # the local stack), which would answer 429 after the first 120 files.
    settings = UploadSettings(quota_uploads_per_minute=0)  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=create_app(settings))
    docs = [
        (f"p-{seed}-{i}.pdf", pdf_bytes(1, seed=seed + i), "application/pdf") for i in range(count)
    ]
    async with httpx.AsyncClient(transport=transport, base_url="http://upload") as client:
        for start in range(0, count, 10):
            files = [("file", d) for d in docs[start : start + 10]]
            (await client.post("/v1/documents", files=files, timeout=120)).raise_for_status()
    await close_pool()
    await close_loop_resources()
    return count


def _per_execution(report: dict[str, Any]) -> dict[str, Any]:
    summaries = [s for s in report["summaries"] if s["status"] == "completed"]
    first, last = report["first_message_at"], max(s["logged_at"] for s in summaries)
    seconds = last - first
    return {
        "completed": len(summaries),
        "seconds": seconds,
        "documents_per_s": len(summaries) / seconds,
        "worker_cpu_s": report["cpu_self_s"] + report["cpu_children_s"],
        "per_document_total_ms_median": statistics.median(
            s["timings_ms"]["total"] for s in summaries
        ),
        "stage_ms_median": {
            k: statistics.median(s["timings_ms"].get(k, 0.0) for s in summaries) for k in STAGES
        },
    }


def processor_alone(
    *, documents: int, concurrencies: list[int], bedrock_latency: float
) -> list[dict[str, Any]]:
    """One worker (one concurrent execution) draining an already full queue."""
    from docpipe.testkit.bedrock_server import BedrockServer

    rows = []
    seed = 500_000
    with embedded_stack("proc") as stack:
        local_dsn = asyncio.run(create_database(stack, database="local", dimensions=384))
        bedrock_dsn = asyncio.run(create_database(stack, database="bedrock", dimensions=1024))
        with BedrockServer(latency=bedrock_latency) as bedrock:
            embedders = {
                "local": {"DATABASE_URL": local_dsn, "EMBEDDING_DIMENSIONS": "384"},
                f"bedrock (Cohere v4, {bedrock_latency:g} s a call)": {
                    "DATABASE_URL": bedrock_dsn,
                    "EMBEDDING_PROVIDER": "bedrock",
                    "EMBEDDING_MODEL_ID": "cohere.embed-v4:0",
                    "EMBEDDING_DIMENSIONS": "1024",
                    "BEDROCK_ENDPOINT_URL": bedrock.url,
                },
            }
            for embedder, env in embedders.items():
                for concurrency in concurrencies:
                    seed += 10_000
                    os.environ.update(env)
                    asyncio.run(_queue_documents(documents, seed=seed))
                    load_before = os.getloadavg()
                    run_env = {
                        **env,
                        "RECORD_CONCURRENCY": str(concurrency),
                        "DATABASE_POOL_MAX": str(max(10, concurrency)),
                        "LOG_LEVEL": "INFO",
                    }
                    proc, out = start_worker(
                        stack.root, f"c{concurrency}-{seed}", expect=documents, env=run_env
                    )
                    report = finish_worker(proc, out)
                    rows.append(
                        {
                            "embedder": embedder,
                            "record_concurrency": concurrency,
                            **_per_execution(report),
                            "load_average_before": [round(x, 2) for x in load_before],
                            "load_average_after": [round(x, 2) for x in os.getloadavg()],
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    return rows


# -------------------------------------------------------------------------------- main


def _cli_tables(runs: list[dict[str, Any]]) -> None:
    print_table(
        "End to end through the CLI (docpipe upload FOLDER --wait)",
        [
            {
                "scenario": r["scenario"],
                "files": r["files"],
                "completed": r["completed"],
                "failed": r["failed"],
                "pages": r["pages"],
                "wall s": r["wall_s"],
                "docs/s": r["documents_per_s"],
                "pages/s": r["pages_per_s"],
                "CPU s": r["cpu_s_total"],
                "load before": r["load_average_before"][0],
                "load after": r["load_average_after"][0],
            }
            for r in runs
        ],
    )
    for r in runs:
        print_table(
            f"Where the CPU went: {r['scenario']} (CPU-s by component)",
            [{"component": k, "CPU s": v} for k, v in r["cpu_s_by_component"].items()],
        )
        print_table(
            f"Processor stages: {r['scenario']} (median ms per completed document)",
            [r["stage_ms_median"]],
        )
        print("\nCLI output:\n" + r["cli_stdout"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the bench")
    parser.add_argument("--only", default="newcomer,mixed,requests,processor")
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--workers", type=int, help="LOCAL_WORKERS for the stack")
    parser.add_argument("--record-concurrency", type=int, help="RECORD_CONCURRENCY")
    parser.add_argument("--bedrock-latency", type=float, default=0.15)
    parser.add_argument(
        "--concurrencies",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 10],
        help="RECORD_CONCURRENCY values of the processor-alone scenario",
    )
    parser.add_argument("--processor-documents", type=int, default=300)
    parser.add_argument("--name", default="bulk_ingestion", help="results file name")
    args = parser.parse_args()
    only = set(args.only.split(","))
    documents = 100 if args.quick else args.documents
    bytecode = use_compiled_bytecode()
    warm_bytecode(
        "docpipe.processor.handler", "pymupdf", "docpipe.upload.main", "docpipe.devstack.cli"
    )
    env = {"LOG_LEVEL": "INFO"}
    if args.workers:
        env["LOCAL_WORKERS"] = str(args.workers)
    if args.record_concurrency:
        env["RECORD_CONCURRENCY"] = str(args.record_concurrency)
        env["DATABASE_POOL_MAX"] = str(max(10, args.record_concurrency))
    results: dict[str, Any] = {}
    runs = []
    if "newcomer" in only:
        folder = one_page_pdfs(documents)
        runs.append(through_the_cli(f"newcomer-{documents}", folder, env=env))
    if "mixed" in only:
        folder = mixed_corpus(20 if args.quick else 200)
        runs.append(through_the_cli(f"mixed-{len(list(folder.iterdir()))}", folder, env=env))
    if runs:
        _cli_tables(runs)
        results["through_the_cli"] = runs
    if "requests" in only:
        timing = ten_file_requests(
            one_page_pdfs(documents), requests=10 if args.quick else 50, env=env
        )
        print_table(
            "10-file POST /v1/documents, one after another, while the worker processes them",
            [
                {
                    "requests": timing["requests"],
                    "p50 ms": timing["seconds"]["p50"] * 1000,
                    "p95 ms": timing["seconds"]["p95"] * 1000,
                    "load before": timing["load_average_before"][0],
                }
            ],
        )
        results["ten_file_requests"] = timing
    if "processor" in only:
        rows = processor_alone(
            documents=40 if args.quick else args.processor_documents,
            concurrencies=args.concurrencies,
            bedrock_latency=args.bedrock_latency,
        )
        print_table(
            "The processor alone: one concurrent execution draining a full queue",
            [
                {
                    "embedder": r["embedder"],
                    "RECORD_CONCURRENCY": r["record_concurrency"],
                    "docs": r["completed"],
                    "docs/s per execution": r["documents_per_s"],
                    "worker CPU s": r["worker_cpu_s"],
                    "median ms per doc": r["per_document_total_ms_median"],
                    "load before": r["load_average_before"][0],
                }
                for r in rows
            ],
        )
        results["processor_alone"] = rows
    facts = conditions(quick=args.quick, bytecode=bytecode, stack_env=env)
    print_conditions(facts)
    write_results(args.name, {**results, "conditions": facts})


if __name__ == "__main__":
    main()
