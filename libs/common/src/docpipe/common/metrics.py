"""What users see, reported as CloudWatch metrics per function version.

Lambda counts an invocation as successful whenever the handler returns. A FastAPI route
that raised is answered 500 by Mangum, and a document that failed is reported as a
``failed`` status or a batch-item failure: none of them reaches ``AWS/Lambda`` Errors, so
a canary that watched only Lambda's metrics would promote a version that fails every
request. Each handler therefore reports its own outcomes here, and each CodeDeploy
deployment group alarms on the new version's figures during the canary
(``stacks/src/docpipe/infra/service.py``; the rollout command points those alarms at
the version it deploys).

The lines are CloudWatch embedded metric format (EMF), written by Powertools for AWS
Lambda's metrics provider to stdout. Lambda ships stdout to CloudWatch Logs unchanged in
both log formats (it does not re-encode a line that is already JSON:
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html),
and CloudWatch Logs extracts the metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
Every line carries two dimension sets: ``[FunctionName]`` (the service as a whole) and
``[FunctionName, FunctionVersion]`` (one published version, which tells the canary's
traffic apart from the stable version's). The local stack sets
``POWERTOOLS_METRICS_DISABLED=true``: nothing collects the lines there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

__all__ = [
    "FUNCTION_NAME",
    "FUNCTION_VERSION",
    "NAMESPACE",
    "FunctionIdentity",
    "Metric",
    "publish",
]

NAMESPACE = "docpipe"
FUNCTION_NAME = "FunctionName"
FUNCTION_VERSION = "FunctionVersion"


class Metric(StrEnum):
    """Metric names, shared with the alarms the Pulumi program declares."""

    #: HTTP services: one per request, and one per answer with a 5xx status.
    REQUESTS = "Requests"
    SERVER_ERRORS = "Http5xx"
    #: Processor: SQS messages received, documents that ended each way, and messages
    #: handed back to SQS (batch-item failures).
    MESSAGES = "Messages"
    DOCUMENTS_COMPLETED = "DocumentsCompleted"
    DOCUMENTS_FAILED = "DocumentsFailed"
    BATCH_ITEM_FAILURES = "BatchItemFailures"


@dataclass(frozen=True)
class FunctionIdentity:
    """Which function and published version produced a figure."""

    name: str
    version: str

    @classmethod
    def of(cls, context: Any) -> FunctionIdentity:
        """From the Lambda context; the runtime's environment variables when there is none.

        ``context.function_version`` is the version that runs (``7``), also when it was
        invoked through an alias; ``$LATEST`` for an unpublished function or outside Lambda.
        """
        name = getattr(context, "function_name", None) or os.environ.get(
            "AWS_LAMBDA_FUNCTION_NAME", "local"
        )
        version = getattr(context, "function_version", None) or os.environ.get(
            "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"
        )
        return cls(name=str(name), version=str(version))


def publish(counts: Mapping[Metric, float], *, function: FunctionIdentity) -> None:
    """Write one EMF line with ``counts`` (zeros included, so rates have a denominator)."""
    emf = AmazonCloudWatchEMFProvider(namespace=NAMESPACE)  # per call: no shared state
    emf.add_dimension(name=FUNCTION_NAME, value=function.name)
    emf.add_dimensions(**{FUNCTION_NAME: function.name, FUNCTION_VERSION: function.version})
    for metric, value in counts.items():
        emf.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)
    emf.flush_metrics()
