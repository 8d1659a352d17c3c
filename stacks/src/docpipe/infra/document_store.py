"""Document store: the uploads bucket, the ingest queue it notifies, and that queue's DLQ."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.infra import policies
from docpipe.infra.private_bucket import private_bucket_controls
from docpipe.infra.settings import DocumentSettings, QueueSettings

__all__ = ["VISIBILITY_TIMEOUT_FACTOR", "DocumentStore", "DocumentStoreArgs"]

#: AWS's guidance for SQS-triggered Lambda: visibility ≥ 6 × the function timeout.
VISIBILITY_TIMEOUT_FACTOR = 6


@dataclass(frozen=True)
class DocumentStoreArgs:
    documents: DocumentSettings
    queue: QueueSettings
    processor_timeout_seconds: int
    account_id: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    #: browser origins known only at deploy time (the web console's) for presigned uploads
    extra_cors_origins: Sequence[pulumi.Input[str]] = ()


class DocumentStore(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue

    def __init__(
        self, name: str, args: DocumentStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:document_store:DocumentStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # protect: the documents outlive any `pulumi destroy` unless an operator unprotects
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self._bucket_controls(name, args, child)
        self._queues(name, args, child)
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.all(self.queue.arn, self.bucket.arn, args.account_id).apply(
                lambda a: json.dumps(
                    policies.queue_policy(queue_arn=a[0], bucket_arn=a[1], account_id=a[2])
                )
            ),
            opts=child,
        )
        aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=self.bucket.id,
            queues=[
                aws.s3.BucketNotificationQueueArgs(
                    queue_arn=self.queue.arn,
                    events=["s3:ObjectCreated:*"],
                    filter_prefix=args.documents.uploads_prefix,
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )
        self._alarms(name, args, child)
        self.register_outputs(
            {"bucket": self.bucket.bucket, "queue_url": self.queue.url, "dlq_url": self.dlq.url}
        )

    def _bucket_controls(
        self, name: str, args: DocumentStoreArgs, child: pulumi.ResourceOptions
    ) -> None:
        documents = args.documents
        bucket = self.bucket.id
        controls = private_bucket_controls(
            name,
            bucket=bucket,
            noncurrent_version_days=documents.noncurrent_version_days,
            abort_multipart_days=documents.abort_multipart_days,
            expire_delete_markers=True,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps(policies.bucket_policy(bucket_arn=arn))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[controls.public_access_block]),
        )
        aws.s3.BucketCorsConfiguration(
            f"{name}-cors",
            bucket=bucket,
            cors_rules=[
                {
                    "allowed_methods": ["POST"],
                    "allowed_origins": [*documents.cors_origins, *args.extra_cors_origins],
                    "allowed_headers": ["content-type", "content-length"],
                    "expose_headers": ["ETag", "Location"],
                    "max_age_seconds": 3000,
                }
            ],
            opts=child,
        )

    def _queues(self, name: str, args: DocumentStoreArgs, child: pulumi.ResourceOptions) -> None:
        q = args.queue
        self.dlq = aws.sqs.Queue(
            f"{name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=q.dlq_retention_seconds,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=q.retention_seconds,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * args.processor_timeout_seconds,
            redrive_policy=self.dlq.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": q.max_receive_count}
                )
            ),
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dlq.url,
            redrive_allow_policy=self.queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self.dlq.url,
            policy=self.dlq.arn.apply(lambda arn: json.dumps(policies.dlq_policy(queue_arn=arn))),
            opts=child,
        )

    def _alarms(self, name: str, args: DocumentStoreArgs, child: pulumi.ResourceOptions) -> None:
        aws.cloudwatch.MetricAlarm(
            f"{name}-dlq-not-empty",
            alarm_description="Documents failed every attempt; see docs/operations.md (DLQ).",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.dlq.name},
            statistic="Maximum",
            period=60,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            opts=child,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-queue-oldest-message",
            alarm_description="The processor is not keeping up with the ingest queue.",
            namespace="AWS/SQS",
            metric_name="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": self.queue.name},
            statistic="Maximum",
            period=60,
            evaluation_periods=5,
            threshold=args.queue.oldest_message_alarm_seconds,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            opts=child,
        )
