"""Drive SQS -> processor the way Lambda's event source mapping does, for tests."""

from __future__ import annotations

from typing import Any

from docpipe.devstack.embedded import AwsResources
from docpipe.devstack.worker import settle, sqs_event
from docpipe.processor import handler as processor


async def pump_queue(aws: AwsResources, *, rounds: int = 20, idle_rounds: int = 2) -> int:
    """Feed queue messages to the processor handler until the queue stays empty.

    Messages the handler reports as failed are made visible again at once (instead of
    after the visibility timeout) so retries happen within the test. Returns how many
    messages were handled.
    """
    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    arn = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    handled, idle = 0, 0
    for _ in range(rounds):
        messages: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=aws.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            idle += 1
            if idle >= idle_rounds:
                break
            continue
        idle = 0
        result = await processor.handle_event(
            sqs_event(messages, queue_arn=arn, region="ap-northeast-1")
        )
        keep = settle(result, [m["MessageId"] for m in messages])
        for m in messages:
            if m["MessageId"] in keep:
                sqs.change_message_visibility(
                    QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages)
    return handled
