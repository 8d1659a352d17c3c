"""Point a service's canary alarms at the version being deployed.

The application metrics carry the function version as a dimension
(``docpipe.common.metrics``), and a CloudWatch alarm names fixed dimension values. So
before each deployment the rollout command rewrites every alarm of the function (their
names start with the function's name, ``naming``) that reads a ``FunctionVersion``
dimension to read the new version instead: during the canary, the alarm sees only the
new version's traffic. Pulumi created the alarms, lists them in the deployment group, and
ignores their metric queries afterwards (``stacks/src/docpipe/infra/service.py``).

PutMetricAlarm replaces an alarm's whole definition, so the definition is read back
(DescribeAlarms) and written with only the version changed; tags are kept by CloudWatch
(PutMetricAlarm ignores tags when it updates an existing alarm:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
"""

from __future__ import annotations

import copy
from typing import Any

from docpipe.common.metrics import FUNCTION_VERSION

__all__ = ["point_alarms_at_version"]

#: Fields of a DescribeAlarms MetricAlarm that PutMetricAlarm takes back unchanged.
_KEPT = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
)


def _with_version(queries: list[dict[str, Any]], version: str) -> list[dict[str, Any]] | None:
    """The queries with every FunctionVersion dimension set to ``version``; None if none."""
    changed = copy.deepcopy(queries)
    found = False
    for query in changed:
        for dimension in query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []):
            if dimension["Name"] == FUNCTION_VERSION:
                dimension["Value"], found = version, True
    return changed if found else None


def point_alarms_at_version(cloudwatch: Any, *, function_name: str, version: str) -> list[str]:
    """Rewrite ``function_name``'s per-version alarms to watch ``version``; their names."""
    pointed = []
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"{function_name}-", AlarmTypes=["MetricAlarm"]
    )
    for alarm in (a for page in pages for a in page.get("MetricAlarms", [])):
        queries = _with_version(alarm.get("Metrics") or [], version)
        if queries is None:
            continue  # Lambda's own metrics of the alias: all versions, left as they are
        definition = {key: alarm[key] for key in _KEPT if alarm.get(key) is not None}
        cloudwatch.put_metric_alarm(**definition, Metrics=queries)
        pointed.append(alarm["AlarmName"])
    return pointed
