"""The query function's Lambda runtime loop (docpipe.common.lambda_runtime), as deployed:
a fresh process running ``python -m docpipe.common.lambda_runtime docpipe.query.main``
against a local Runtime API server, real Postgres and the local Bedrock-format server
(ConverseStream).

- A REST API event (the streaming route) is answered in Lambda's streaming mode: the
  metadata prelude API Gateway requires, then the server-sent events, written chunk by
  chunk while the model is still producing words (not buffered);
- an HTTP API event is answered whole, exactly as Mangum answers it;
- both report Requests/Http5xx for the function version the canary watches, and a stream
  that ends with an ``error`` event counts as a 5xx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from docpipe.common.embeddings import create_embedder
from docpipe.common.lambda_runtime import DELIMITER, asgi_scope, is_streaming_event
from docpipe.common.metrics import FUNCTION_NAME, FUNCTION_VERSION, NAMESPACE
from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.testkit.bedrock_server import BedrockServer
from docpipe.testkit.chunks import seed_document
from docpipe.testkit.emf import emf_points
from docpipe.testkit.events import http_api_event, rest_api_event
from docpipe.testkit.lambda_runtime_api import RuntimeApiServer
from tests.query.test_query_conversations import POLICY
from tests.query.test_query_search import make_settings

FUNCTION = "docpipe-dev-query"
REPLY = "Up to thirty days a year at half pay [1], and a certificate after three days [2]."


def rest_event(tenant: str, body: dict[str, Any], *, sub: str = "user-1") -> dict[str, Any]:
    """The streaming route's request: REST API proxy (payload 1.0), Cognito authorizer."""
    return rest_api_event("POST", "/v1/answer", tenant=tenant, body=body, sub=sub)


def http_event(tenant: str) -> dict[str, Any]:
    """A search through the HTTP API (payload 2.0), after its JWT authorizer."""
    body = {"query": "sick leave", "top_k": 2}
    return http_api_event("POST", "/v1/search", tenant=tenant, body=body, sub="u")


def test_events_are_told_apart_and_translated() -> None:
    assert is_streaming_event(rest_event("t", {}))
    assert not is_streaming_event(http_event("t"))
    scope = asgi_scope(rest_event("t", {"query": "x"}))
    assert (scope["method"], scope["path"]) == ("POST", "/v1/answer")
    assert (b"content-type", b"application/json") in scope["headers"]
    assert scope["aws.event"]["requestContext"]["authorizer"]["claims"]["tenant_id"] == "t"


@pytest.fixture(scope="module")
def bedrock() -> Iterator[BedrockServer]:
    with BedrockServer() as server:
        yield server


def _runtime(api: RuntimeApiServer, bedrock: BedrockServer) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_VERSION": "7",
        "POWERTOOLS_METRICS_DISABLED": "false",
        "AUTH_MODE": "apigateway",
        "ANSWER_PROVIDER": "bedrock",
        "BEDROCK_ENDPOINT_URL": bedrock.url,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "docpipe.common.lambda_runtime", "docpipe.query.main"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.decode().strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_the_streaming_route_streams_and_both_routes_are_measured(
    migrated: EmbeddedPostgres,
    tenant: str,
    admin_conn: asyncpg.Connection,
    bedrock: BedrockServer,
) -> None:
    embedder = create_embedder(make_settings())
    await seed_document(admin_conn, tenant=tenant, texts=POLICY, embedder=embedder)
    bedrock.reset()
    bedrock.converse_reply = lambda model, request: REPLY
    bedrock.stream_delay = 0.1
    with RuntimeApiServer() as api:
        process = _runtime(api, bedrock)
        try:
            streamed = api.invoke(rest_event(tenant, {"query": "sick leave", "stream": True}))
            assert streamed.done.wait(60), process.stderr.read() if process.poll() else "timeout"
            bedrock.fail_stream(after_deltas=3)
            failed = api.invoke(rest_event(tenant, {"query": "sick leave", "stream": True}))
            buffered = api.invoke(http_event(tenant))
            assert failed.done.wait(60) and buffered.done.wait(60)
        finally:
            process.terminate()
            stdout, stderr = process.communicate(timeout=30)

    # Streamed: the runtime declared streaming, the prelude came first, then the events.
    assert streamed.kind == "stream", stderr[-2000:]
    assert streamed.headers["lambda-runtime-function-response-mode"] == "streaming"
    assert streamed.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    prelude, _, rest = streamed.body.partition(DELIMITER)
    meta = json.loads(prelude)
    assert meta["statusCode"] == 200
    assert meta["multiValueHeaders"]["content-type"][0].startswith("text/event-stream")
    events = _events(rest)
    assert [n for n, _ in events][0] == "sources" and events[-1][0] == "done"
    assert "".join(d["text"] for n, d in events if n == "delta") == events[-1][1]["answer"] == REPLY
    # Not buffered: chunks kept arriving while the model produced words 0.1 s apart, and the
    # sources arrived before the model's first word.
    times = [t for t, _ in streamed.chunks]
    assert len(streamed.chunks) >= 10
    assert times[-1] - times[0] >= 1.0
    first_delta = next(t for t, data in streamed.chunks if b"event: delta" in data)
    sources_at = next(t for t, data in streamed.chunks if b"event: sources" in data)
    assert sources_at < first_delta - 0.05
    assert streamed.trailers == {}

    failed_events = _events(failed.body.partition(DELIMITER)[2])
    assert [n for n, _ in failed_events][-1] == "error"

    # Buffered: Mangum's HTTP API response, as before.
    assert buffered.kind == "response"
    response = json.loads(buffered.body)
    assert response["statusCode"] == 200 and json.loads(response["body"])["results"]

    # Every invocation counted for version 7; the failed stream as a 5xx.
    points = emf_points(stdout)
    dims = ((FUNCTION_NAME, FUNCTION), (FUNCTION_VERSION, "7"))
    requests = sum(p.value for p in points if p.namespace == NAMESPACE
                   and p.dimensions == dims and p.name == "Requests")  # fmt: skip
    errors = sum(p.value for p in points if p.namespace == NAMESPACE
                 and p.dimensions == dims and p.name == "Http5xx")  # fmt: skip
    assert (requests, errors) == (3, 1)


def test_an_app_that_cannot_start_reports_an_init_error(tmp_path: Any) -> None:
    with RuntimeApiServer() as api:
        result = subprocess.run(
            [sys.executable, "-m", "docpipe.common.lambda_runtime", "docpipe.no_such_module"],
            env={**os.environ, "AWS_LAMBDA_RUNTIME_API": api.address},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert api.init_errors and api.init_errors[0]["errorType"] == "ModuleNotFoundError"
