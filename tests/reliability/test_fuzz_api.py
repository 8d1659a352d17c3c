"""Schemathesis against both services' OpenAPI documents, in-process (ASGI).

Cases are generated from each operation's schema (positive and negative data), sent
through httpx's ASGI transport on the test's event loop (where the database pool lives),
and every response is checked: no 5xx, a documented status, the documented content type,
headers and body schema. A valid JWT of a fresh tenant rides on every request (the
generator also produces invalid bodies, parameters and headers around it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.query.config import QuerySettings
from docpipe.query.main import create_app as create_query_app
from docpipe.testkit.tokens import ISSUER
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app as create_upload_app

SECRET = "reliability-fuzz-secret-0123456789abcdef"
FAST_CASES = 60  # per generation mode: 100+ cases per operation in all
SLOW_CASES = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _apps(rel_aws: AwsResources) -> dict[str, FastAPI]:
    common: dict[str, Any] = {"auth_mode": "jwt", "jwt_secret": SECRET,
                              "documents_bucket": rel_aws.bucket}  # fmt: skip
    return {
        "upload": create_upload_app(
            UploadSettings(**common, ingest_queue_url=rel_aws.queue_url)  # type: ignore[call-arg]
        ),
        "query": create_query_app(QuerySettings(**common)),
    }


def _examples(strategy: Any, count: int) -> list[Case]:
    """Up to ``count`` examples of ``strategy`` (hypothesis' generation phase only)."""
    collected: list[Case] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def collect(case: Case) -> None:
        collected.append(case)

    try:
        collect()
    except Unsatisfiable:  # nothing to violate (no parameters, no body)
        pass
    return collected


def _generate(app: FastAPI, count: int) -> dict[str, list[Case]]:
    """Up to ``count`` valid and ``count`` invalid cases per operation (nothing sent yet)."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    cases: dict[str, list[Case]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        cases[operation.label] = [
            case
            for mode in GenerationMode  # valid data, then data that violates the schema
            for case in _examples(operation.as_strategy(generation_mode=mode), count)
        ]
    return cases


_REQUEST_FIELDS = ("method", "url", "headers", "files", "data", "json", "params", "cookies")


def _httpx_kwargs(case: Case, headers: dict[str, str]) -> dict[str, Any]:
    """The case as raw bytes: serialised by requests (the format schemathesis generates for),
    so generated multipart oddities reach the server instead of failing in the client."""
    kwargs = case.as_transport_kwargs(base_url="http://app", headers=headers)
    prepared = requests.Request(**{k: kwargs[k] for k in _REQUEST_FIELDS if k in kwargs}).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return {"method": prepared.method, "url": prepared.url,
            "headers": dict(prepared.headers), "content": body}  # fmt: skip


@pytest.fixture
async def apps(
    migrated: EmbeddedPostgres, rel_aws: AwsResources
) -> AsyncIterator[dict[str, tuple[FastAPI, httpx.AsyncClient]]]:
    out = {}
    for name, app in _apps(rel_aws).items():
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")
        out[name] = (app, client)
    yield out
    for _, client in out.values():
        await client.aclose()


async def _fuzz(app: FastAPI, client: httpx.AsyncClient, count: int) -> dict[str, int]:
    tenant = f"fuzz-{uuid.uuid4().hex[:8]}"
    token = jwt.encode(
        {"tenant_id": tenant, "iss": ISSUER, "exp": int(time.time()) + 3600}, SECRET, "HS256"
    )
    auth = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    sent: dict[str, int] = {}
    for label, cases in _generate(app, count).items():
        sent[label] = len(cases)
        for case in cases:
            response = await client.request(**_httpx_kwargs(case, auth))
            try:
                case.validate_response(response, checks=CHECKS)
            except BaseExceptionGroup as group:  # schemathesis' group of named failures
                reasons = "; ".join(str(e).splitlines()[0] for e in group.exceptions)
                failures.append(
                    f"{label}: {response.status_code} {reasons} <- {case.as_curl_command()}"[:800]
                )
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures[:20])
    return sent


@pytest.mark.parametrize("service", ["upload", "query"])
async def test_schemathesis_fast(
    service: str, apps: dict[str, tuple[FastAPI, httpx.AsyncClient]]
) -> None:
    app, client = apps[service]
    sent = await _fuzz(app, client, FAST_CASES)
    parameterised = {label: n for label, n in sent.items() if label != "GET /healthz"}
    assert parameterised and all(n >= 100 for n in parameterised.values()), sent


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("service", ["upload", "query"])
async def test_schemathesis_long(
    service: str, apps: dict[str, tuple[FastAPI, httpx.AsyncClient]]
) -> None:
    app, client = apps[service]
    await _fuzz(app, client, SLOW_CASES)
