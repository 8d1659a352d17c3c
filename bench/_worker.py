"""A processor worker for benchmarks: SQS -> the processor's real Lambda handler, then a report.

Runs in its own process (so its memory and CPU are the processor's alone), polls the
ingest queue like Lambda's event source mapping (``docpipe.devstack.worker`` helpers),
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
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


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
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_self_s": me.ru_utime + me.ru_stime,
        "cpu_children_s": kids.ru_utime + kids.ru_stime,
        "peak_rss_self_mb": me.ru_maxrss / 1024,
        "peak_rss_children_mb": kids.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--idle-rounds", type=int, default=3)
    args = parser.parse_args()

    import boto3

    from docpipe.devstack.worker import LambdaContext, settle, sqs_event

    started = time.perf_counter()
    from docpipe.processor.handler import handler

    import_s = time.perf_counter() - started
    summaries = _Summaries()
    logging.getLogger("docpipe.processor").addHandler(summaries)
    region = os.environ["AWS_REGION"]
    queue_url = os.environ["INGEST_QUEUE_URL"]
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=region)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    print(json.dumps({"ready": True}), flush=True)
    handled = idle = 0
    first_message: float | None = None
    busy_s = 0.0
    while handled < args.expect or idle < args.idle_rounds:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            idle += 1
            continue
        idle = 0
        first_message = first_message or time.time()
        t = time.perf_counter()
        result = handler(sqs_event(messages, queue_arn=arn, region=region), LambdaContext(900))
        busy_s += time.perf_counter() - t
        keep = settle(result, [m["MessageId"] for m in messages])
        for m in messages:
            if m["MessageId"] in keep:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        # moto's s3:TestEvent (and any other non-document message) does not count.
        handled += sum("ObjectCreated" in m["Body"] for m in messages)
    report = {
        "handled": handled,
        "import_s": import_s,
        "handler_busy_s": busy_s,
        "first_message_at": first_message,
        "summaries": summaries.items,
        **_usage(),
    }
    args.out.write_text(json.dumps(report, default=str))
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


if __name__ == "__main__":
    main()
