"""Read CloudWatch embedded-metric-format lines the way CloudWatch Logs extracts them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["EmfPoint", "emf_points"]


@dataclass(frozen=True)
class EmfPoint:
    """One metric as CloudWatch would store it under one dimension set (values summed)."""

    namespace: str
    name: str
    value: float
    dimensions: tuple[tuple[str, str], ...]


def emf_points(output: str) -> list[EmfPoint]:
    """Every (metric, dimension set) of every EMF line in ``output`` (other lines ignored).

    Follows the specification: each ``CloudWatchMetrics`` directive names a namespace,
    dimension sets (lists of keys whose values are top-level members) and metrics (whose
    values are top-level members).
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """
    points: list[EmfPoint] = []
    for line in output.splitlines():
        try:
            doc: Any = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = tuple((key, str(doc[key])) for key in dimension_set)
                for metric in directive["Metrics"]:
                    name = metric["Name"]
                    raw = doc[name]  # a number, or an array of values of one metric
                    value = sum(map(float, raw)) if isinstance(raw, list) else float(raw)
                    points.append(EmfPoint(directive["Namespace"], name, value, dims))
    return points
