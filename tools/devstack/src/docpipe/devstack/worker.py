"""The local stand-in for Lambda's SQS event source mapping: poll, invoke, delete.

Long-polls the ingest queue and calls the processor's real Lambda handler with an
AWS-shaped SQS event, then settles the batch as an event source mapping with
``ReportBatchItemFailures`` does: messages not reported as failed are deleted; failed ones
(or the whole batch, if the handler raises or reports an unknown id) stay on the queue and
reappear after the visibility timeout, so receive counts grow and the DLQ redrive applies.

One deviation, for convenience: while the handler runs, the batch's visibility is extended
(Lambda would instead cap the run at its timeout, set well below the visibility timeout).
Run as ``python -m docpipe.devstack.worker`` (one handler loop per process). Tests and
benchmarks drive the same loop (:meth:`Worker.drain`, ``docpipe.testkit.pump``), with
failed messages made visible again at once so that retries happen while they wait.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import boto3

__all__ = ["LambdaContext", "Worker", "main", "settle", "sqs_event"]

log = logging.getLogger("docpipe.devstack.worker")

FUNCTION_NAME = "docpipe-processor-local"
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers commonly read."""

    timeout_s: float
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "local"
    invoked_function_arn: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _message_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in attrs.items():
        converted: dict[str, Any] = {
            "dataType": value["DataType"],
            "stringListValues": [],
            "binaryListValues": [],
        }
        if "StringValue" in value:
            converted["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        out[name] = converted
    return out


def sqs_event(messages: list[dict[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    """SQS messages as Lambda delivers them to a function (``Records`` of ``aws:sqs``)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": _message_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def settle(result: Any, message_ids: list[str]) -> set[str]:
    """The ids to keep on the queue for a handler ``result``, as Lambda interprets it."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failed = {item.get("itemIdentifier") for item in result["batchItemFailures"]}
    if not failed <= set(message_ids):  # an invalid report fails the whole batch
        return set(message_ids)
    return {str(i) for i in failed}


@contextmanager
def _keep_invisible(sqs: Any, queue_url: str, handles: list[str], seconds: int) -> Iterator[None]:
    stop = threading.Event()

    def extend() -> None:
        while not stop.wait(seconds / 3):
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": seconds}
                for i, h in enumerate(handles)
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)

    thread = threading.Thread(target=extend, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Worker:
    """One event source mapping's poller: ``wait_s`` is the long-poll wait; with
    ``retry_at_once`` failed messages become visible again at once, not after the
    visibility timeout."""

    def __init__(
        self,
        *,
        handler: Handler,
        queue_url: str,
        region: str,
        endpoint_url: str,
        timeout_s: float,
        wait_s: int = 20,
        retry_at_once: bool = False,
    ) -> None:
        self.handler, self.queue_url, self.region = handler, queue_url, region
        self.timeout_s, self.wait_s, self.retry_at_once = timeout_s, wait_s, retry_at_once
        self.sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"]
        )["Attributes"]
        self.queue_arn, self.visibility = attrs["QueueArn"], int(attrs["VisibilityTimeout"])
        self.busy = self.stopping = False

    def run_once(self) -> int:
        """Receive one batch and handle it; how many messages it held."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.busy = True
        try:
            self._invoke(messages)
        finally:
            self.busy = False
        return len(messages)

    def drain(
        self,
        *,
        idle_rounds: int = 2,
        max_rounds: int | None = None,
        until: Callable[[], bool] = lambda: True,
    ) -> int:
        """Handle batches until ``idle_rounds`` receives in a row find the queue empty (and
        ``until()`` holds), or after ``max_rounds`` receives; how many messages were handled."""
        handled = idle = rounds = 0
        while max_rounds is None or rounds < max_rounds:
            rounds += 1
            received = self.run_once()
            handled += received
            idle = 0 if received else idle + 1
            if idle >= idle_rounds and until():
                break
        return handled

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        ids = [m["MessageId"] for m in messages]
        event = sqs_event(messages, queue_arn=self.queue_arn, region=self.region)
        handles = [m["ReceiptHandle"] for m in messages]
        with _keep_invisible(self.sqs, self.queue_url, handles, self.visibility):
            try:
                failed = settle(self.handler(event, LambdaContext(self.timeout_s)), ids)
            except Exception:
                log.exception("processor handler raised; the whole batch will be retried")
                failed = set(ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        if failed and self.retry_at_once:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(messages)
                    if m["MessageId"] in failed
                ],
            )
        log.info("batch of %d: %d deleted, %d left for retry", len(ids), len(done), len(failed))

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Stop at once when idle; otherwise finish the batch in hand, then stop."""
        self.stopping = True
        if not self.busy:
            raise SystemExit(0)


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )
    from docpipe.processor.handler import handler

    worker = Worker(
        handler=handler,
        queue_url=os.environ["INGEST_QUEUE_URL"],
        region=os.environ.get("AWS_REGION", "ap-northeast-1"),
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        timeout_s=float(os.environ.get("LOCAL_FUNCTION_TIMEOUT", "300")),
    )
    signal.signal(signal.SIGTERM, worker.on_sigterm)
    signal.signal(signal.SIGINT, worker.on_sigterm)
    log.info("polling %s", worker.queue_url)
    try:
        while not worker.stopping:
            worker.run_once()
    finally:
        # The handler's loop keeps its aioboto3 sessions open by design (they live as long
        # as the process); do not report them as leaks when the process ends.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)


if __name__ == "__main__":
    main()
