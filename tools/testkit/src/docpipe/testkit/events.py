"""AWS-shaped Lambda events: realistic samples in ``aws_events/*.json``, copied and
overridden per test.

The samples follow AWS's documented formats (and Powertools for AWS Lambda's public event
samples, https://github.com/aws-powertools/powertools-lambda-python/tree/develop/tests/events):

- ``http_api_v2_request.json``: API Gateway HTTP API, payload format 2.0, after the JWT
  authorizer (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html);
- ``rest_api_proxy_request.json``: API Gateway REST API proxy integration, payload 1.0,
  after the Cognito authorizer: the query service's streaming route
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html);
- ``sqs_s3_notification.json``: an SQS batch as Lambda delivers it, carrying an S3 event
  notification (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html);
- ``s3_test_event.json``: the ``s3:TestEvent`` S3 sends when a notification is configured.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from docpipe.testkit.tokens import http_api_claims, rest_api_claims

__all__ = [
    "S3_TEST_EVENT",
    "http_api_event",
    "rest_api_event",
    "s3_record",
    "sample",
    "sqs_event",
]

SAMPLES = Path(__file__).resolve().parent / "aws_events"


@cache
def _read(name: str) -> str:
    return (SAMPLES / f"{name}.json").read_text()


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of the sample ``aws_events/<name>.json``."""
    event: dict[str, Any] = json.loads(_read(name))
    return event


S3_TEST_EVENT = sample("s3_test_event")


def http_api_event(
    method: str,
    path: str,
    *,
    tenant: str | None = None,
    claims: Mapping[str, str] | None = None,
    body: dict[str, Any] | str | None = None,
    sub: str = "user-1",
    query: str = "",
) -> dict[str, Any]:
    """An HTTP API request (payload 2.0) with the JWT authorizer's ``claims``, or valid
    ones of ``tenant`` from the suite's issuer; with neither, no authorizer (a route
    without one, or a direct invocation)."""
    event = sample("http_api_v2_request")
    event["rawPath"], event["rawQueryString"] = path, query
    context = event["requestContext"]
    context["http"] |= {"method": method, "path": path}
    if claims is None and tenant is not None:
        claims = http_api_claims(tenant, sub=sub)
    if claims is None:
        del context["authorizer"]
    else:
        context["authorizer"]["jwt"]["claims"] = dict(claims)
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def rest_api_event(
    method: str,
    path: str,
    *,
    tenant: str | None = None,
    body: dict[str, Any] | None = None,
    sub: str = "user-1",
) -> dict[str, Any]:
    """A REST API proxy request (payload 1.0), with the Cognito authorizer's claims of
    ``tenant`` from the suite's issuer (no authorizer without a tenant)."""
    event = sample("rest_api_proxy_request")
    event["resource"] = event["path"] = path
    event["httpMethod"] = method
    context = event["requestContext"]
    context |= {
        "httpMethod": method,
        "resourcePath": path,
        "path": f"/{context['stage']}{path}",
    }
    if tenant is None:
        del context["authorizer"]
    else:
        context["authorizer"]["claims"] = rest_api_claims(tenant, sub=sub)
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def s3_record(
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
    size: int = 1,
    event_name: str = "ObjectCreated:Put",
) -> dict[str, Any]:
    """One record of an S3 event notification (keys URL-encoded, as S3 sends them)."""
    notification = json.loads(sample("sqs_s3_notification")["Records"][0]["body"])
    record: dict[str, Any] = notification["Records"][0]
    record["eventName"] = event_name
    record["s3"]["bucket"] |= {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    obj = record["s3"]["object"]
    obj |= {"key": quote_plus(key, safe="/"), "size": size, "eTag": uuid.uuid4().hex}
    if version_id:
        obj["versionId"] = version_id
    else:
        del obj["versionId"]  # an unversioned bucket's notification has none
    return record


def sqs_event(*bodies: str | dict[str, Any], receive_count: int = 1) -> dict[str, Any]:
    """An SQS batch as Lambda delivers it, one message per body (a dict is sent as JSON)."""
    template = sample("sqs_s3_notification")["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        record |= {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": uuid.uuid4().hex,
            "body": body if isinstance(body, str) else json.dumps(body),
        }
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}
