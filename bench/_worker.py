"""A processor worker for benchmarks: SQS -> the processor's real Lambda handler, then a report.

Runs in its own process (so its memory and CPU are the processor's alone), polls the
ingest queue with the devstack's event source mapping loop (``docpipe.devstack.worker``),
and exits once ``--expect`` messages were handled and the queue is idle. It writes a JSON
report: every per-document summary the pipeline logged, CPU times of the process and of
its (extraction) children, and peak RSS of both.

    python -m bench._worker --expect 200 --out /tmp/report.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["finish_worker", "main", "run_worker", "start_worker"]

ROOT = Path(__file__).resolve().parents[1]


class _Summaries(logging.Handler):
    """Collects the pipeline's one-line JSON summaries (``extra={"summary": ...}``)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.items: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        summary = getattr(record, "summary", None)
        if isinstance(summary, dict):
            self.items.append(dict(summary, logged_at=record.created))


def _usage() -> dict[str, float]:
    """CPU and peak memory of the worker and its children.

    The extraction sandbox servers live as long as the worker, and ``RUSAGE_CHILDREN``
    counts only exited children, so they are stopped first (with their forked
    per-document children, whose times they have collected).
    """
    from docpipe.processor import sandbox

    sandbox.shutdown()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_self_s": me.ru_utime + me.ru_stime,
        "cpu_children_s": kids.ru_utime + kids.ru_stime,
        "peak_rss_self_mb": me.ru_maxrss / 1024,
        "peak_rss_children_mb": kids.ru_maxrss / 1024,
    }


def start_worker(
    folder: Path, name: str, *, expect: int, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a worker (parent side) and wait until it polls; returns (process, report path)."""
    out, log_path = folder / f"worker-{name}.json", folder / f"worker-{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench._worker", "--expect", str(expect), "--out", str(out)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LOG_LEVEL": "INFO", **(env or {})},
            cwd=ROOT,
        )
    deadline = time.monotonic() + 120
    while b'"ready": true' not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"worker failed to start: {log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc, out


def finish_worker(proc: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    """Wait for the worker to exit; its report."""
    if proc.wait(timeout=3600) != 0:
        log = out.with_suffix(".log").read_text()[-3000:]
        raise RuntimeError(f"worker failed: {log}")
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def run_worker(folder: Path, name: str, *, expect: int, env: dict[str, str]) -> dict[str, Any]:
    proc, out = start_worker(folder, name, expect=expect, env=env)
    return finish_worker(proc, out)


class _Timed:
    """The processor's handler, timed: seconds busy, first batch, documents handled."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], Any]) -> None:
        self.handler = handler
        self.busy_s = 0.0
        self.first_message_at: float | None = None
        self.documents = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.first_message_at = self.first_message_at or time.time()
        started = time.perf_counter()
        try:
            return self.handler(event, context)
        finally:
            self.busy_s += time.perf_counter() - started
            # moto's s3:TestEvent (and any other non-document message) does not count.
            self.documents += sum("ObjectCreated" in r["body"] for r in event["Records"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--idle-rounds", type=int, default=3)
    args = parser.parse_args()

    from docpipe.devstack.worker import Worker

    started = time.perf_counter()
    from docpipe.processor.handler import handler

    import_s = time.perf_counter() - started
    summaries = _Summaries()
    logging.getLogger("docpipe.processor").addHandler(summaries)
    timed = _Timed(handler)
    worker = Worker(
        handler=timed,
        queue_url=os.environ["INGEST_QUEUE_URL"],
        region=os.environ["AWS_REGION"],
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        timeout_s=900,
        wait_s=1,
        retry_at_once=True,
    )
    print(json.dumps({"ready": True}), flush=True)
    worker.drain(idle_rounds=args.idle_rounds, until=lambda: timed.documents >= args.expect)
    report = {
        "handled": timed.documents,
        "import_s": import_s,
        "handler_busy_s": timed.busy_s,
        "first_message_at": timed.first_message_at,
        "summaries": summaries.items,
        **_usage(),
    }
    args.out.write_text(json.dumps(report, default=str))
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


if __name__ == "__main__":
    main()
