"""Emptying an SQS queue between test steps."""

from __future__ import annotations

from typing import Any

__all__ = ["drain"]


def drain(sqs: Any, url: str) -> list[str]:
    """Receive and delete every message on the queue; their bodies, in the order received.

    PurgeQueue would do it in one call but may run only once a minute per queue
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_PurgeQueue.html).
    Each message stays invisible while the rest is received, so none comes back twice.
    """
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
