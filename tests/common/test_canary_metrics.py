"""The metrics each canary watches, emitted by the real Lambda handlers.

A route that raises is answered 500 by Mangum and Lambda counts the invocation as a
success; a failed document is a status and a batch-item failure, not a Lambda error. The
handlers must report both as metrics of the function version that produced them
(``docpipe.common.metrics``). Each handler runs in a fresh process, as on Lambda, with a
Lambda context naming its version; the EMF lines it prints are read back the way
CloudWatch Logs extracts them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import asyncpg
import boto3
import pytest

from docpipe.common.metrics import FUNCTION_NAME, FUNCTION_VERSION, NAMESPACE
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.testkit.documents import put_document
from docpipe.testkit.emf import EmfPoint, emf_points
from docpipe.testkit.events import sqs_event
from docpipe.testkit.tokens import http_api_claims

UNMIGRATED_DB = "docpipe_unmigrated"

_HTTP_SCRIPT = """
import json, sys
from docpipe.devstack.worker import LambdaContext
from docpipe.testkit.events import http_api_event
service, method, path, body = sys.argv[1:5]
module = __import__(f"docpipe.{service}.main", fromlist=["handler"])
event = http_api_event(method, path, claims=json.loads(sys.argv[5]), body=body or None)
context = LambdaContext(29, function_name=f"docpipe-dev-{service}", function_version="7")
response = module.handler(event, context)
print("RESULT", json.dumps({"status": response["statusCode"], "body": response["body"]}))
"""


def _run(script: str, *args: str, **env: str) -> tuple[dict[str, Any], list[EmfPoint]]:
    """Run ``script`` in a fresh interpreter; it prints its JSON result after ``RESULT``."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "false", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = next(
        json.loads(line.removeprefix("RESULT "))
        for line in result.stdout.splitlines()
        if line.startswith("RESULT ")
    )
    return answer, emf_points(result.stdout)


def _values(points: list[EmfPoint], *, function: str, version: str | None) -> dict[str, float]:
    """Metric values of one dimension set: the function alone, or one of its versions."""
    dims = ((FUNCTION_NAME, function),)
    if version is not None:
        dims += ((FUNCTION_VERSION, version),)
    return {p.name: p.value for p in points if p.namespace == NAMESPACE and p.dimensions == dims}


@pytest.fixture(scope="module")
async def unmigrated_dsn(migrated: EmbeddedPostgres) -> str:
    """A database the app role can reach but whose schema was never migrated."""
    admin = await asyncpg.connect(migrated.admin_dsn)
    try:
        if not await admin.fetchval("select 1 from pg_database where datname = $1", UNMIGRATED_DB):
            await admin.execute(f'create database "{UNMIGRATED_DB}"')
    finally:
        await admin.close()
    return migrated.dsn(user=None, database=UNMIGRATED_DB)


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "status"),
    [
        ("upload", "GET", "/v1/documents", "", 500),
        ("query", "POST", "/v1/search", json.dumps({"query": "leave", "mode": "keyword"}), 500),
        ("upload", "GET", "/healthz", "", 200),  # control: a 2xx counts as a request, no 5xx
    ],
)
def test_each_answer_is_counted_for_its_version_and_a_raising_route_is_a_5xx(
    service: str,
    method: str,
    path: str,
    body: str,
    status: int,
    unmigrated_dsn: str,
    aws: AwsResources,
) -> None:
    """A release deployed against a schema it does not know: its routes raise, Mangum
    answers 500, Lambda sees a successful invocation, and the metric says 5xx."""
    answer, points = _run(
        _HTTP_SCRIPT,
        service,
        method,
        path,
        body,
        json.dumps(http_api_claims("t1")),
        AUTH_MODE="apigateway",
        DATABASE_URL=unmigrated_dsn,
    )
    assert answer["status"] == status
    if status == 500:
        assert json.loads(answer["body"])["detail"].startswith("an internal error")
    expected = {"Requests": 1.0, "Http5xx": 1.0 if status >= 500 else 0.0}
    function = f"docpipe-dev-{service}"
    assert _values(points, function=function, version="7") == expected
    assert _values(points, function=function, version=None) == expected


_PROCESSOR_SCRIPT = """
import json, sys
from docpipe.devstack.worker import LambdaContext
from docpipe.processor.handler import handler
event = json.loads(sys.argv[1])
context = LambdaContext(300, function_name="docpipe-dev-processor", function_version="9")
print("RESULT", json.dumps(handler(event, context)))
"""


async def test_processor_reports_failed_documents_and_returned_messages(
    admin_conn: asyncpg.Connection, aws: AwsResources, tenant: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    good = await put_document(
        admin_conn,
        s3,
        aws.bucket,
        tenant=tenant,
        data=b"Sick leave needs a certificate after three days. " * 20,
        content_type="text/plain",
    )
    broken = await put_document(
        admin_conn, s3, aws.bucket, tenant=tenant, data=b"%PDF-1.7\n\x00\x01 not a pdf at all"
    )
    event = sqs_event(good.body(aws.bucket), broken.body(aws.bucket), "not a notification")
    answer, points = _run(_PROCESSOR_SCRIPT, json.dumps(event))
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == [
        event["Records"][2]["messageId"]
    ]
    statuses = {
        row["id"]: row["status"]
        for row in await admin_conn.fetch(
            "select id, status from documents where id = any($1::uuid[])", [good.id, broken.id]
        )
    }
    assert statuses == {good.id: "completed", broken.id: "failed"}
    expected = {
        "Messages": 3.0,
        "DocumentsCompleted": 1.0,
        "DocumentsFailed": 1.0,
        "BatchItemFailures": 1.0,
    }
    assert _values(points, function="docpipe-dev-processor", version="9") == expected
    assert _values(points, function="docpipe-dev-processor", version=None) == expected
