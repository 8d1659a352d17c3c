"""Alerts: the SNS topic every alarm notifies, with optional e-mail subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

__all__ = ["Alerts"]


class Alerts(pulumi.ComponentResource):
    topic: aws.sns.Topic

    def __init__(
        self, name: str, *, emails: Sequence[str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:alerts:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(f"{name}-topic", opts=child)
        for index, email in enumerate(emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        self.register_outputs({"topic_arn": self.topic.arn})
